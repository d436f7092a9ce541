package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

const keyUsage = `usage:
  reliapi key new     print a new random API key and its SHA-256, for tenants.<name>.api_keys
  reliapi key hash    read a key from stdin (one line) and print its SHA-256
`

// keyCommand makes and hashes tenant API keys, so that the config holds
// only their SHA-256.
func keyCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, keyUsage)
		return 2
	}
	switch args[0] {
	case "new":
		var b [24]byte
		rand.Read(b[:])
		key := "rk_" + hex.EncodeToString(b[:])
		fmt.Fprintf(stdout, "key:    %s\nsha256: %s\n", key, keyDigest(key))
		return 0
	case "hash":
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		key := strings.TrimRight(line, "\r\n")
		if key == "" {
			fmt.Fprintln(stderr, "reliapi key hash: no key on stdin", err)
			return 2
		}
		fmt.Fprintln(stdout, keyDigest(key))
		return 0
	}
	fmt.Fprint(stderr, keyUsage)
	return 2
}

func keyDigest(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

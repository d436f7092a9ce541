package jobs

import (
	"encoding/binary"
	"errors"
)

// unpackStrings reads what a script's cmsgpack.pack makes of a list of
// strings (an HGETALL): a MessagePack array of str. It is the one shape
// the scripts send, read without reflection or unescaping: a job's end
// is announced, and a started job handed to its worker, this way on every
// synchronous call (encoding/json spent 25–35 µs per record there).
func unpackStrings(b []byte) ([]string, error) {
	n, b, err := unpackLen(b, 0x90, 0x0f, 0xdc, 0xdd)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > len(b) { // each str takes a byte at least
		return nil, errMalformedPack
	}
	out := make([]string, n)
	for i := range out {
		var size int
		if b[0] == 0xd9 { // str 8
			if len(b) < 2 {
				return nil, errMalformedPack
			}
			size, b = int(b[1]), b[2:]
		} else if size, b, err = unpackLen(b, 0xa0, 0x1f, 0xda, 0xdb); err != nil {
			return nil, err
		}
		if size < 0 || size > len(b) {
			return nil, errMalformedPack
		}
		out[i], b = string(b[:size]), b[size:]
		if i+1 < n && len(b) == 0 {
			return nil, errMalformedPack
		}
	}
	if len(b) != 0 {
		return nil, errMalformedPack
	}
	return out, nil
}

var errMalformedPack = errors.New("malformed MessagePack list of strings")

// unpackLen reads the header of a MessagePack array or str: fix (the
// header byte holds the length in its bits under mask), 16 or 32 (the
// length follows, big-endian). It returns the length and what follows.
func unpackLen(b []byte, fix, mask, h16, h32 byte) (int, []byte, error) {
	switch {
	case len(b) == 0:
		return 0, nil, errMalformedPack
	case b[0]&^mask == fix:
		return int(b[0] & mask), b[1:], nil
	case b[0] == h16 && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], nil
	case b[0] == h32 && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), b[5:], nil
	}
	return 0, nil, errMalformedPack
}

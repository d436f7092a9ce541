package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binary memoizes the one build of cmd/reliapi per process.
var binary struct {
	mu   sync.Mutex
	done bool   // a build ran; path and err are its outcome
	path string // the executable, when err is nil
	err  error
}

// BuildBinary builds github.com/reliapi/reliapi/cmd/reliapi once per
// process and returns the path of the executable; later calls reuse the
// first build (or its error). It serves programs that are not tests, such
// as the benchmark; tests call Binary. The executable lives in a temporary
// directory that RemoveBinary deletes.
func BuildBinary() (string, error) {
	binary.mu.Lock()
	defer binary.mu.Unlock()
	if binary.done {
		return binary.path, binary.err
	}
	binary.done = true
	dir, err := os.MkdirTemp("", "reliapi-bin-")
	if err != nil {
		binary.err = err
		return "", err
	}
	name := "reliapi"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	path := filepath.Join(dir, name)
	// The import path builds from anywhere inside the module.
	cmd := exec.Command("go", "build", "-o", path, "github.com/reliapi/reliapi/cmd/reliapi")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		binary.err = fmt.Errorf("building reliapi (run inside the module): %v\n%s", err, out)
		return "", binary.err
	}
	binary.path = path
	return path, nil
}

// Binary is BuildBinary for tests: it fails the test with go build's
// output if the build fails. Packages that use it call RemoveBinary from
// TestMain after m.Run.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := BuildBinary()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return path
}

// RemoveBinary deletes what BuildBinary built; a later BuildBinary builds
// again.
func RemoveBinary() {
	binary.mu.Lock()
	defer binary.mu.Unlock()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	binary.done, binary.path, binary.err = false, "", nil
}

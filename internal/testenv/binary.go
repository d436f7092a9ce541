package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binary memoizes the one build of cmd/reliapi per test binary.
var binary struct {
	once sync.Once
	path string
	out  []byte // go build's output when err is not nil
	err  error
}

// Binary builds github.com/reliapi/reliapi/cmd/reliapi once per test binary
// and returns the path of the executable. Later calls, from any test, reuse
// the first build. If the build fails, Binary fails the test with go build's
// output. The executable lives in a temporary directory that is not removed.
func Binary(tb testing.TB) string {
	tb.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "reliapi-bin-")
		if err != nil {
			binary.err = err
			return
		}
		name := "reliapi"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		path := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", path, "github.com/reliapi/reliapi/cmd/reliapi")
		binary.out, binary.err = cmd.CombinedOutput()
		binary.path = path
	})
	if binary.err != nil {
		tb.Fatalf("testenv: building reliapi: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}

// RemoveBinary deletes what Binary built. Call it from TestMain after
// m.Run, in packages that use Binary.
func RemoveBinary() {
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
}

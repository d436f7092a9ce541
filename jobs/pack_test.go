package jobs_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
)

// TestUnpackStringsReadsRedisPacks: lists of strings as Redis's cmsgpack
// packs them — every header size of the array and of its strings — read
// back whole.
func TestUnpackStringsReadsRedisPacks(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	many := make([]string, 40) // an array 16
	for i := range many {
		many[i] = strings.Repeat("x", i)
	}
	for name, list := range map[string][]string{
		"empty strings": {"", ""},
		"fix":           {"id", "job_1", "status", "running"},
		"str 8":         {strings.Repeat("a", 32), strings.Repeat("b", 255)},
		"str 16":        {strings.Repeat("c", 256), strings.Repeat("d", 65535)},
		"str 32":        {strings.Repeat("e", 65536)},
		"array 16":      many,
		"bytes":         {"\n\x00\xff\"\\", "é"},
	} {
		args := make([]any, len(list))
		for i, s := range list {
			args[i] = s
		}
		packed, err := rdb.Eval(t.Context(), "return cmsgpack.pack(ARGV)", nil, args...).Text()
		if err != nil {
			t.Fatal(err)
		}
		got, err := jobs.UnpackStrings([]byte(packed))
		if err != nil || !slices.Equal(got, list) {
			t.Errorf("%s: unpacked %d strings (%v), want the %d packed", name, len(got), err, len(list))
		}
	}
}

// TestUnpackStringsRefusesMalformed: every cut of a valid pack, a pack
// with bytes after it, and other types are refused, never read past.
func TestUnpackStringsRefusesMalformed(t *testing.T) {
	t.Parallel()
	valid := []byte("\x92\xa2id\xd9\x20" + strings.Repeat("v", 32))
	if got, err := jobs.UnpackStrings(valid); err != nil || len(got) != 2 {
		t.Fatalf("the valid pack: %v %v", got, err)
	}
	for n := range len(valid) {
		if _, err := jobs.UnpackStrings(valid[:n]); err == nil {
			t.Errorf("a pack cut to %d bytes was read", n)
		}
	}
	for _, b := range [][]byte{
		append(slices.Clip(valid), 'x'),
		[]byte("\x91\x01"),             // an integer, not a str
		[]byte("\x81\xa1k\xa1v"),       // a map
		[]byte("\xdd\xff\xff\xff\xff"), // more elements than bytes
		[]byte("\x91\xdb\xff\xff\xff\xff"),
	} {
		if got, err := jobs.UnpackStrings(b); err == nil {
			t.Errorf("%q read as %q", b, got)
		}
	}
}

// FuzzUnpackStrings: no input makes it panic, and what it reads fits in
// the input.
func FuzzUnpackStrings(f *testing.F) {
	f.Add([]byte("\x92\xa2id\xa5job_1"))
	f.Add([]byte("\xdc\x00\x01\xda\x00\x03abc"))
	f.Add([]byte("\x91\xdb\x00\x00\x00\x01z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := jobs.UnpackStrings(b)
		if err != nil {
			return
		}
		total := 0
		for _, s := range got {
			total += len(s) + 1
		}
		if total > len(b) {
			t.Fatalf("read %d bytes of strings from %d", total, len(b))
		}
	})
}

// TestJobFromRecordOfEitherBuild: a record packed by this build's scripts
// and one encoded as JSON by an earlier build's read as the same job.
func TestJobFromRecordOfEitherBuild(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	fields := []any{"id", "job_1", "status", "succeeded", "attempts", "2", "result", `{"data":{"ok":true}}`}
	for _, script := range []string{"return cmsgpack.pack(ARGV)", "return cjson.encode(ARGV)"} {
		record, err := rdb.Eval(t.Context(), script, nil, fields...).Text()
		if err != nil {
			t.Fatal(err)
		}
		j, err := jobs.JobFromRecord([]byte(record))
		if err != nil || j.ID != "job_1" || j.Status != reliapi.JobSucceeded || j.Attempts != 2 || j.Result == nil {
			t.Errorf("%s: read %+v, %v", script, j, err)
		}
	}
}

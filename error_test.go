package reliapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/reliapi/reliapi"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want reliapi.Class
	}{
		{"nil", nil, reliapi.ClassNone},
		{"upstream 503", &reliapi.Error{Code: reliapi.CodeServerError, UpstreamStatus: 503}, reliapi.ClassServer},
		{"upstream 429", &reliapi.Error{Code: reliapi.CodeClientError, UpstreamStatus: 429}, reliapi.ClassRateLimited},
		{"other client error", &reliapi.Error{Code: reliapi.CodeClientError, UpstreamStatus: 400}, reliapi.ClassPermanent},
		{"network code", &reliapi.Error{Code: reliapi.CodeNetworkError}, reliapi.ClassNetwork},
		{"timeout code", &reliapi.Error{Code: reliapi.CodeTimeout}, reliapi.ClassTimeout},
		{"invalid request", reliapi.Errorf(reliapi.CodeInvalidRequest, "bad"), reliapi.ClassPermanent},
		{"wrapped", fmt.Errorf("calling: %w", &reliapi.Error{Code: reliapi.CodeServerError}), reliapi.ClassServer},
		{"deadline", context.DeadlineExceeded, reliapi.ClassTimeout},
		{"canceled", context.Canceled, reliapi.ClassPermanent},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, reliapi.ClassTimeout},
		{"refused", &net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, reliapi.ClassNetwork},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), reliapi.ClassNetwork},
		{"eof", io.ErrUnexpectedEOF, reliapi.ClassNetwork},
		{"invalid answer, whatever its cause", reliapi.InvalidResponse(200, "bad", io.ErrUnexpectedEOF), reliapi.ClassPermanent},
		{"interrupted stream", &reliapi.Error{Code: reliapi.CodeStreamInterrupted, Err: io.ErrUnexpectedEOF}, reliapi.ClassPermanent},
		{"plain", errors.New("boom"), reliapi.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := reliapi.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestJobStatusTerminal(t *testing.T) {
	t.Parallel()
	for _, s := range []reliapi.JobStatus{reliapi.JobSucceeded, reliapi.JobFailed, reliapi.JobCanceled} {
		if !s.Terminal() {
			t.Errorf("%s.Terminal() = false", s)
		}
	}
	for _, s := range []reliapi.JobStatus{reliapi.JobQueued, reliapi.JobRunning} {
		if s.Terminal() {
			t.Errorf("%s.Terminal() = true", s)
		}
	}
	if reliapi.JobStatus("done").Valid() {
		t.Error(`JobStatus("done").Valid() = true`)
	}
}

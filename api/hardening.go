package api

import (
	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
)

// Input limits, beyond server.max_body_bytes. They keep one request from
// costing the api (or the logs, or Redis) far more than a real call needs,
// and make a bad request a clear 4xx instead of a slow or odd answer.
const (
	// maxRequestHeaders and maxRequestHeaderBytes bound the headers of a
	// request to the api (431 REQUEST_HEADERS_TOO_LARGE). Go's server
	// stops at 1 MiB before this runs.
	maxRequestHeaders     = 100
	maxRequestHeaderBytes = 32 << 10
	// maxJSONDepth bounds how deeply a request body nests.
	maxJSONDepth = 64
	// maxTargetLen is a target name's length: config names are 1 to 64.
	maxTargetLen = 64
	// maxPathLen bounds a proxied call's path, query included.
	maxPathLen = 8 << 10
	// maxProxyHeaders, maxProxyHeaderBytes bound the headers a call sends
	// upstream.
	maxProxyHeaders     = 64
	maxProxyHeaderBytes = 16 << 10
	// maxQueryParams bounds a call's query parameters (values included).
	maxQueryParams = 256
	// maxModelLen bounds a model name.
	maxModelLen = 256
	// maxMessages bounds the messages of one LLM call.
	maxMessages = 1024
	// maxWebhookURLLen bounds a webhook URL.
	maxWebhookURLLen = 2048
)

// limitHeaders refuses requests with too many or too large headers.
func limitHeaders(c *gin.Context) {
	n, size := 0, 0
	for k, vs := range c.Request.Header {
		for _, v := range vs {
			n++
			size += len(k) + len(v)
		}
	}
	if n > maxRequestHeaders || size > maxRequestHeaderBytes {
		writeError(c, reliapi.Errorf(reliapi.CodeHeadersTooLarge,
			"Request headers are too large: at most %d headers and %d bytes (got %d and %d)", maxRequestHeaders, maxRequestHeaderBytes, n, size),
			meta{RequestID: requestID(c)})
		return
	}
	c.Next()
}

// jsonDepth is the deepest nesting of objects and arrays in data, which is
// scanned as JSON text without decoding it (strings are skipped, so a
// bracket inside one does not count).
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, b := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case inString && b == '"':
			inString = false
		case inString:
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
			deepest = max(deepest, depth)
		case b == '}' || b == ']':
			depth--
		}
	}
	return deepest
}

// tooLong is the error for a field longer than limit.
func tooLong(field string, limit int) *reliapi.Error {
	return invalid("Field %q is longer than %d bytes", field, limit)
}

// checkProxyHeaders bounds the headers a call sends upstream.
func checkProxyHeaders(h map[string]string) error {
	size := 0
	for k, v := range h {
		size += len(k) + len(v)
	}
	if len(h) > maxProxyHeaders || size > maxProxyHeaderBytes {
		return invalid("Field \"headers\" is too large: at most %d headers and %d bytes", maxProxyHeaders, maxProxyHeaderBytes)
	}
	return nil
}

// countQuery counts a query object's parameters, array items included.
func countQuery(q map[string]any) int {
	n := 0
	for _, v := range q {
		if items, ok := v.([]any); ok {
			n += len(items)
		} else {
			n++
		}
	}
	return n
}

package reliapi

import (
	"errors"
	"net/url"
	"strings"
)

// ErrUnsafePath means a request path could leave its target.
var ErrUnsafePath = errors.New("path must start with / and stay within the target")

// UpstreamURL joins a request path (with an optional ?query) onto a target's
// base URL. The result always keeps the base's scheme, host and path prefix:
// the URL is assembled field by field, never parsed from a concatenated
// string, and paths that try to leave (absolute URLs, "//host", "@host",
// backslashes, "." or ".." segments, encoded or not) are ErrUnsafePath. The
// query carried by the path is returned merged into query.
func UpstreamURL(base *url.URL, path string, query url.Values) (*url.URL, error) {
	if path == "" {
		path = "/"
	}
	if path[0] != '/' || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\#") {
		return nil, ErrUnsafePath
	}
	for i := 0; i < len(path); i++ {
		if path[i] < 0x21 || path[i] == 0x7f {
			return nil, ErrUnsafePath
		}
	}
	rawPath, rawQuery, _ := strings.Cut(path, "?")
	decoded, err := url.PathUnescape(rawPath)
	if err != nil || strings.ContainsAny(decoded, "\\") {
		return nil, ErrUnsafePath
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == "." || seg == ".." {
			return nil, ErrUnsafePath
		}
	}
	q := url.Values{}
	if rawQuery != "" {
		if q, err = url.ParseQuery(rawQuery); err != nil {
			return nil, ErrUnsafePath
		}
	}
	for k, vs := range query {
		q[k] = append(q[k], vs...)
	}
	u := &url.URL{
		Scheme:   base.Scheme,
		Host:     base.Host,
		Path:     strings.TrimSuffix(base.Path, "/") + decoded,
		RawPath:  strings.TrimSuffix(base.EscapedPath(), "/") + rawPath,
		RawQuery: q.Encode(),
	}
	if u.EscapedPath() != u.RawPath {
		// The path's own escaping was not canonical; let net/url escape it.
		u.RawPath = ""
	}
	return u, nil
}

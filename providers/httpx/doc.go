// Package httpx is the generic HTTP adapter: one attempt of a proxied call
// against a target over a pooled transport. It strips hop-by-hop headers,
// injects the target's credentials, never follows redirects (a redirect
// could leave the target's host) and maps failures to reliapi error codes
// that reliapi.Classify understands.
package httpx

// Package httpbin is a tiny, offline, httpbin-like HTTP upstream.
//
// It owns the demo upstream that `reliapi dev` serves so a new user can try
// the proxy without network access, and the fake upstream that tests point
// the proxy at. It is plain net/http with no state outside the handler value
// returned by [New].
//
// Every response is JSON with Content-Type application/json. Routes accept
// any method; HEAD gets the same status and headers with no body.
//
//	/get                      echo the request: method, url, args, headers, origin
//	/anything, /anything/...  like /get plus "body" (string) and "json" (parsed body or null)
//	/status/{code}            answer with code (100-599, else 400) and {"status": code};
//	                          ?retry_after=V sets a Retry-After header to V
//	/delay/{ms}               wait ms milliseconds (at most 60000), return early when the
//	                          client goes away, then answer like /get plus "delay_ms"
//	/flaky?fail=N&key=K       the first N calls for key K answer 503 {"error":"flaky","call":i},
//	                          later calls 200 {"ok":true,"call":i}; ?retry_after=V sets
//	                          Retry-After on the failures
//	/headers, /ip, /uuid      {"headers":{...}}, {"origin":"..."}, {"uuid":"..."}
//	anything else             404 {"error":"not found","path":"..."}
//
// In echoes, "args" always maps a query parameter to the list of its values
// and "headers" maps a canonical header name to its values joined by ", ",
// with the Host header included. Request bodies are read up to [MaxBodyBytes];
// a larger body is answered with 413.
package httpbin

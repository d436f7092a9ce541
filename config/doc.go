// Package config owns ReliAPI's YAML configuration: the schema, its
// defaults, ${VAR} expansion from the environment, strict decoding and
// validation.
//
// Load reads a file and Parse reads bytes; both expand environment
// references, reject unknown keys and wrongly typed values with the dotted
// path and line of the offending field, fill in defaults, and validate.
// Every problem is reported at once (validation problems sorted by path), so
// a user can fix a file in one pass:
//
//	config.yaml: targets.openai.circut: unknown field (line 12); known fields: base_url, timeout_ms, …
//	config.yaml: targets.payments_api.retry_matrix.5xx.backoff: must be one of exp-jitter, exp, linear, fixed (got "expo")
//
// Environment references are expanded in scalar values after the YAML is
// parsed, never in keys and never in the raw text, so a value such as a
// password holding ": #" cannot change the document's structure:
//
//   - ${VAR} is the variable's value, and ${VAR:-default} is the default
//     when the variable is unset or empty. The result is not expanded again.
//   - A value that expands to "" leaves its field at the default.
//   - "$" not followed by "{" is kept as written ("$5", "pa$$word"), and
//     "$${" writes a literal "${".
//   - Numbers and booleans are read from the expanded text whether it was
//     quoted or not, so both timeout_ms: ${T} and timeout_ms: "${T}" work.
//
// One setting also has an environment fallback of its own, the seed's
// variable: CORS_ORIGINS (comma-separated) when the file sets no
// server.cors_origins.
//
// YAML anchors and aliases work; merge keys (<<) are rejected, and so is a
// second document in the same file.
//
// The targets section keeps the seed's schema, so the seed's config.yaml
// loads unchanged; the server, redis, worker and jobs sections are new in
// the Go port. Secrets never live in the file: a target's auth names the
// environment variable that holds its key, and Auth.Header reads it at call
// time.
//
// In every Config struct a zero field means its default, which the field's
// comment names; Default returns a Config with all of them filled in, but
// for worker.metrics_listen, which stays empty: its default
// (DefaultMetricsListen) moves to a free port when taken, which only the
// worker can find out.
//
// The package imports only the standard library and gopkg.in/yaml.v3, and
// holds no global state.
package config

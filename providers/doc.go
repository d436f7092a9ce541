// Package providers groups the upstream adapters, one subpackage per kind of
// upstream: httpx for any HTTP API (and, as they land, openai, anthropic and
// mistral). Adapters make exactly one attempt per call and map the
// upstream's answer to ReliAPI's vocabulary; retries, breakers and limits
// live in package reliability and are applied by the worker.
package providers

package config_test

import (
	"fmt"

	"github.com/reliapi/reliapi/config"
)

func ExampleParse() {
	doc := []byte(`
worker:
  concurrency: ${CONCURRENCY:-16}
targets:
  payments:
    base_url: ${PAYMENTS_URL}
    auth: {type: api_key, env_var: PAYMENTS_API_KEY, header: X-API-Key}
    retry_matrix:
      "5xx": {attempts: 4, backoff: exp}
`)
	getenv := func(name string) string {
		return map[string]string{"PAYMENTS_URL": "https://api.payments.example.com"}[name]
	}
	c, err := config.Parse(doc, "config.yaml", getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := c.Targets["payments"]
	fmt.Println(c.Worker.Concurrency, p.BaseURL, p.Timeout())
	fmt.Println(p.Retry("5xx"))
	fmt.Println(p.Retry("429"))
	// Output:
	// 16 https://api.payments.example.com 20s
	// {4 exp 1 60} true
	// {0  0 0} false
}

func ExampleParse_errors() {
	doc := []byte(`
targets:
  payments:
    base_url: https://api.payments.example.com
    circut: {error_threshold: 3}
  openai:
    base_url: api.openai.com
    retry_matrix:
      "5xx": {backoff: expo}
`)
	_, err := config.Parse(doc, "config.yaml", func(string) string { return "" })
	fmt.Println(err)
	doc = []byte(`
targets:
  openai:
    base_url: api.openai.com
    retry_matrix:
      "5xx": {backoff: expo}
`)
	_, err = config.Parse(doc, "config.yaml", func(string) string { return "" })
	fmt.Println(err)
	// Output:
	// config.yaml: targets.payments.circut: unknown field (line 5); known fields: base_url, timeout_ms, circuit, cache, llm, auth, fallback_targets, retry_matrix, webhook
	// config.yaml: targets.openai.base_url: must be an absolute http:// or https:// URL (got "api.openai.com")
	// config.yaml: targets.openai.retry_matrix.5xx.backoff: must be one of exp-jitter, exp, linear, fixed (got "expo")
}

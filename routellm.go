package reliapi

// RouteDecision is a routing decision a caller's router (RouteLLM) made
// for an LLM call and sent with it in X-RouteLLM-* headers: which route it
// took and why, and optionally a provider and a model to use instead of
// the request's. It is kept on the job, so that polling and webhooks show
// it, and it is part of the request an idempotency key names.
type RouteDecision struct {
	DecisionID string `json:"decision_id,omitempty"`
	RouteName  string `json:"route_name,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Provider and Model are the overrides as sent; empty when not
	// overridden.
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
}

// Overrides says what the decision overrides: "both", "provider", "model",
// or "" for none.
func (d *RouteDecision) Overrides() string {
	switch {
	case d.Provider != "" && d.Model != "":
		return "both"
	case d.Provider != "":
		return "provider"
	case d.Model != "":
		return "model"
	}
	return ""
}

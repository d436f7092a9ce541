package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
)

// RouteLLM (seed §20): a router in front of ReliAPI decides how an LLM
// call is served and says so in X-RouteLLM-* headers — a provider and a
// model to use instead of the request's, and the decision's ID, route
// and reason for correlation. The overrides are applied before anything
// is checked (target, model, tier, cost caps, budget), so that a decision
// can never take a call past its tenant's limits; the decision is kept on
// the job, shown in meta and echoed in X-ReliAPI-* response headers.

// The request headers of a decision, and the response headers that echo it.
const (
	headerRouteProvider   = "X-RouteLLM-Provider"
	headerRouteModel      = "X-RouteLLM-Model"
	headerRouteDecisionID = "X-RouteLLM-Decision-ID"
	headerRouteName       = "X-RouteLLM-Route-Name"
	headerRouteReason     = "X-RouteLLM-Reason"

	headerReliAPIProvider   = "X-ReliAPI-Provider"
	headerReliAPIModel      = "X-ReliAPI-Model"
	headerReliAPIDecisionID = "X-ReliAPI-Decision-ID"
)

// maxRouteHeaderLen bounds each decision header: they are stored on the
// job and echoed.
const maxRouteHeaderLen = 256

// decisionOf reads the routing decision in h; nil when none of its headers
// is set.
func decisionOf(h http.Header) (*reliapi.RouteDecision, error) {
	d := &reliapi.RouteDecision{}
	for _, f := range []struct {
		header string
		dst    *string
		max    int
	}{
		{headerRouteProvider, &d.Provider, maxTargetLen},
		{headerRouteModel, &d.Model, maxModelLen},
		{headerRouteDecisionID, &d.DecisionID, maxRouteHeaderLen},
		{headerRouteName, &d.RouteName, maxRouteHeaderLen},
		{headerRouteReason, &d.Reason, maxRouteHeaderLen},
	} {
		v := strings.TrimSpace(h.Get(f.header))
		if len(v) > f.max {
			return nil, invalid("Header %s is longer than %d characters", f.header, f.max)
		}
		*f.dst = v
	}
	if *d == (reliapi.RouteDecision{}) {
		return nil, nil
	}
	return d, nil
}

// routing applies decisions and counts them.
type routing struct {
	targets map[string]*config.Target
	// byProvider is the first LLM target of each provider (lower case) in
	// the config file's order.
	byProvider map[string]string
	// routeNames and models are the label values the metrics keep; any
	// other is counted as "other", so that callers cannot grow the series
	// without bound.
	routeNames map[string]bool
	models     map[string]bool
	decisions  *prometheus.CounterVec
	overrides  *prometheus.CounterVec
}

func newRouting(st *config.APISettings, targetNames []string, reg prometheus.Registerer) *routing {
	r := &routing{
		targets:    st.Targets,
		byProvider: map[string]string{},
		routeNames: map[string]bool{},
		models:     map[string]bool{},
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_routellm_decisions_total",
			Help: "LLM calls that came with a RouteLLM decision, by route name, provider override and model override (\"unknown\" or \"default\" when not given; \"other\" for a value not in the config).",
		}, []string{"route_name", "provider", "model"}),
		overrides: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reliapi_routellm_overrides_total",
			Help: "RouteLLM decisions that override the request, by what they override: provider, model or both.",
		}, []string{"override_type"}),
	}
	reg.MustRegister(r.decisions, r.overrides)
	order := st.TargetOrder
	if len(order) != len(st.Targets) {
		order = targetNames // a Config not read from a file: by name
	}
	for _, name := range order {
		if t := st.Targets[name]; t != nil && t.LLM != nil {
			p := strings.ToLower(t.LLM.Provider)
			if _, seen := r.byProvider[p]; !seen {
				r.byProvider[p] = name
			}
			r.models[t.LLM.DefaultModel] = true
		}
	}
	for _, name := range st.RouteLLM.RouteNames {
		r.routeNames[name] = true
	}
	for _, table := range []map[string]config.Price{config.DefaultPricing, st.Pricing} {
		for model := range table {
			r.models[model] = true
		}
	}
	for _, m := range st.Models {
		r.models[m.Model] = true
	}
	delete(r.models, "")
	return r
}

// target is the target a provider override names: the first LLM target of
// that provider (in any case) in config order, else the target of that
// name; "" when there is none, and the request's target stays.
func (r *routing) target(provider string) string {
	if t, ok := r.byProvider[strings.ToLower(provider)]; ok {
		return t
	}
	if _, ok := r.targets[provider]; ok {
		return provider
	}
	return ""
}

// apply makes req what decision d asks for, before it is validated.
func (r *routing) apply(d *reliapi.RouteDecision, req *llmProxyRequest) {
	if d == nil {
		return
	}
	if t := r.target(d.Provider); d.Provider != "" && t != "" {
		req.Target = t
	}
	if d.Model != "" {
		req.Model = d.Model
	}
}

// announce echoes the decision of a validated call in the response
// headers: the provider and model that will serve it, and the decision's
// ID.
func (r *routing) announce(c *gin.Context, call *proxyCall) {
	if t := r.targets[call.target]; t != nil && t.LLM != nil {
		c.Header(headerReliAPIProvider, t.LLM.Provider)
	}
	c.Header(headerReliAPIModel, call.llm.Model)
	if id := call.route.DecisionID; id != "" {
		c.Header(headerReliAPIDecisionID, id)
	}
}

// count counts an accepted call's decision.
func (r *routing) count(d *reliapi.RouteDecision) {
	route, provider, model := "unknown", "default", "default"
	if d.RouteName != "" {
		route = labelOf(r.routeNames, d.RouteName)
	}
	if d.Provider != "" {
		provider = "other"
		if t := r.target(d.Provider); t != "" && r.targets[t].LLM != nil {
			provider = strings.ToLower(r.targets[t].LLM.Provider)
		}
	}
	if d.Model != "" {
		model = labelOf(r.models, d.Model)
	}
	r.decisions.WithLabelValues(route, provider, model).Inc()
	if kind := d.Overrides(); kind != "" {
		r.overrides.WithLabelValues(kind).Inc()
	}
}

// labelOf is v as a label value: itself when set has it, else "other".
func labelOf(set map[string]bool, v string) string {
	if set[v] {
		return v
	}
	return "other"
}

// routeFingerprint is the decision's part of the request an idempotency
// key names: the same key with another decision is another request.
func routeFingerprint(d *reliapi.RouteDecision) []byte {
	b, _ := json.Marshal(d) // a struct of strings: cannot fail
	return b
}

// validateLLM applies a call's routing decision, if any, to req and
// validates the result.
func (s *Server) validateLLM(req *llmProxyRequest, route *reliapi.RouteDecision) (*proxyCall, error) {
	s.routing.apply(route, req)
	call, err := req.validate(s.settings)
	if err != nil {
		return nil, err
	}
	call.route = route
	return call, nil
}

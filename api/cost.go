package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/tasks"
)

// The cost policies a call can get.
const (
	policyNone      = "none"
	policyThrottled = "soft_cap_throttled"
)

// planCost prices an LLM request before it is made and applies the
// target's caps: a hard cap refuses a call whose estimate is above it
// (BUDGET_EXCEEDED); a soft cap lowers max_tokens until the estimate fits.
// When any cap applies (the target's or the tenant's budget) a model
// without a price follows budget.unknown_model. It may change req's
// max_tokens.
func planCost(settings *config.APISettings, t *config.Target, req *reliapi.ChatRequest) (*tasks.CostPlan, error) {
	price, priced := settings.PriceOf(req.Model)
	l := t.LLM
	capped := l.SoftCostCapUSD != nil || l.HardCostCapUSD != nil || budgetCaps(settings) != (budget.Caps{})
	plan := &tasks.CostPlan{Policy: policyNone, Priced: priced}
	if !priced {
		if capped && settings.Budget.UnknownModel != config.UnknownModelAllow {
			e := reliapi.Errorf(reliapi.CodePriceUnknown, "Model %q has no price, so its cost caps cannot be checked: add it under pricing: in the config, or set budget.unknown_model: allow", req.Model)
			e.Details = map[string]any{"model": req.Model}
			return nil, e
		}
		return plan, nil
	}
	if req.MaxTokens == nil && capped {
		n := budget.DefaultMaxTokens
		req.MaxTokens = &n
	}
	output := budget.DefaultMaxTokens
	if req.MaxTokens != nil {
		output = *req.MaxTokens
	}
	p := budget.Price{InputPer1M: price.InputPer1M, OutputPer1M: price.OutputPer1M}
	input, _ := budget.InputTokens(req.Model, req.Messages)
	plan.EstimateUSD = p.Cost(input, output)
	if hard := l.HardCostCapUSD; hard != nil && plan.EstimateUSD > *hard {
		e := reliapi.Errorf(reliapi.CodeBudgetExceeded, "Estimated cost $%.6f exceeds hard cap $%.6f", plan.EstimateUSD, *hard)
		e.Details = map[string]any{"cost_estimate_usd": plan.EstimateUSD, "hard_cost_cap_usd": *hard, "model": req.Model, "max_tokens": output, "cost_policy_applied": "hard_cap_rejected"}
		return nil, e
	}
	if soft := l.SoftCostCapUSD; soft != nil && plan.EstimateUSD > *soft && req.MaxTokens != nil {
		if n := max(1, p.MaxOutput(input, *soft)); n < *req.MaxTokens {
			original := *req.MaxTokens
			req.MaxTokens, plan.OriginalMaxTokens = &n, &original
			plan.Policy, plan.EstimateUSD = policyThrottled, p.Cost(input, n)
		}
	}
	return plan, nil
}

// budgetCaps are the tenant spend caps of the config.
func budgetCaps(settings *config.APISettings) budget.Caps {
	return budget.Caps{Daily: settings.Budget.DailyUSD, Monthly: settings.Budget.MonthlyUSD}
}

// usage serves GET /v1/usage: the tenant's LLM spend in the current UTC
// day and month, what calls in flight hold, and the caps.
func (s *Server) usage(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	u, err := s.ledger.Usage(ctx, tenant(c))
	if err != nil {
		writeError(c, err, meta{RequestID: requestID(c)})
		return
	}
	caps := budgetCaps(s.settings)
	capOrNil := func(v float64) *float64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	c.JSON(http.StatusOK, gin.H{
		"object": "usage", "tenant": tenant(c),
		"day":   gin.H{"spent_usd": u.DaySpent, "held_usd": u.DayHeld, "cap_usd": capOrNil(caps.Daily)},
		"month": gin.H{"spent_usd": u.MonthSpent, "held_usd": u.MonthHeld, "cap_usd": capOrNil(caps.Monthly)},
	})
}

// llmControlsKept refuses a plain HTTP call to an LLM target when model
// or cost controls apply to it: the caller's tier allows only some models,
// or the target has a cost cap, or tenants have budgets. The HTTP route
// sees no model and prices nothing, so it would let the caller past them
// with the target's provider keys; /v1/proxy/llm applies them.
func (s *Server) llmControlsKept(who *caller, call *proxyCall) error {
	t := s.settings.Targets[call.target]
	if call.llm != nil || t == nil || t.LLM == nil {
		return nil
	}
	restricted := who != nil && len(who.limits.AllowedModels) > 0
	if restricted || t.LLM.SoftCostCapUSD != nil || t.LLM.HardCostCapUSD != nil || budgetCaps(s.settings) != (budget.Caps{}) {
		return reliapi.Errorf(reliapi.CodeInvalidTarget, "Target %q is an LLM target with model or cost controls, which a plain HTTP call would bypass; call it through /v1/proxy/llm", call.target)
	}
	return nil
}

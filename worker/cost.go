package worker

import (
	"context"
	"encoding/json"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/tasks"
)

// settleCost prices an LLM job's outcome from the provider's reported
// usage, puts the cost fields in its meta, and settles the tenant's budget
// hold: to the actual cost after a completion, to nothing when there is
// none (res nil: the job did not run). A failed settlement is logged: the
// hold then lapses with its window.
func (w *Worker) settleCost(ctx context.Context, p tasks.Payload, res *reliapi.Result) {
	plan := p.Cost
	if plan == nil {
		return
	}
	actual := 0.0
	if res != nil {
		m := &res.Meta
		m.CostPolicyApplied = plan.Policy
		m.OriginalMaxTokens = plan.OriginalMaxTokens
		m.MaxTokensReduced = plan.OriginalMaxTokens != nil
		if plan.Priced {
			estimate := plan.EstimateUSD
			m.CostEstimateUSD = &estimate
		}
		// Priced at the model that answered (a fallback's may differ).
		var chat reliapi.ChatResponse
		if res.Error == nil && json.Unmarshal(res.Data, &chat) == nil {
			if price, ok := w.cfg.Settings.PriceOf(m.Model); ok {
				actual = budget.Price{InputPer1M: price.InputPer1M, OutputPer1M: price.OutputPer1M}.Cost(chat.Usage.PromptTokens, chat.Usage.CompletionTokens)
				m.CostUSD = &actual
				target := p.Target
				if m.FallbackUsed {
					target = m.FallbackTarget
				}
				w.metrics.spend.WithLabelValues(target).Add(actual)
			}
		}
	}
	if h := plan.Hold; h != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		hold := &budget.Hold{ID: h.ID, Tenant: h.Tenant, Day: h.Day, Month: h.Month, Nanos: h.Nanos}
		if err := w.ledger.Settle(ctx, hold, actual); err != nil {
			w.log.Error("settling a budget hold", "job_id", p.JobID, "error", err)
		}
	}
}

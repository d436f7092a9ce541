package worker

import (
	"encoding/json"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/reliability/budget"
	"github.com/reliapi/reliapi/tasks"
)

// price puts an LLM job's cost fields in its outcome's meta: the api's
// estimate and policy, and the actual cost from the provider's reported
// usage, priced at the model that answered (a fallback's may differ). The
// job's budget hold is settled at that cost when the outcome is recorded.
func (w *Worker) price(p tasks.Payload, res *reliapi.Result) {
	plan := p.Cost
	if plan == nil {
		return
	}
	m := &res.Meta
	m.CostPolicyApplied = plan.Policy
	m.OriginalMaxTokens = plan.OriginalMaxTokens
	m.MaxTokensReduced = plan.OriginalMaxTokens != nil
	if plan.Priced {
		estimate := plan.EstimateUSD
		m.CostEstimateUSD = &estimate
	}
	var chat reliapi.ChatResponse
	if res.Error != nil || json.Unmarshal(res.Data, &chat) != nil {
		return
	}
	price, ok := w.cfg.Settings.PriceOf(m.Model)
	if !ok {
		return
	}
	actual := budget.Price{InputPer1M: price.InputPer1M, OutputPer1M: price.OutputPer1M}.Cost(chat.Usage.PromptTokens, chat.Usage.CompletionTokens)
	m.CostUSD = &actual
	target := p.Target
	if m.FallbackUsed {
		target = m.FallbackTarget
	}
	w.metrics.spend.WithLabelValues(target).Add(actual)
}

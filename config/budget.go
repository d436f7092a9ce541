package config

import (
	"sort"
	"strings"
)

// Budget limits what LLM calls may cost.
type Budget struct {
	// DailyUSD caps each tenant's spend per UTC day; 0: no cap.
	DailyUSD float64 `yaml:"daily_usd"`
	// MonthlyUSD caps each tenant's spend per UTC month; 0: no cap.
	MonthlyUSD float64 `yaml:"monthly_usd"`
	// UnknownModel says what happens to a call whose model has no price
	// while a cap applies to it: "reject" (default) refuses it, "allow"
	// lets it through uncosted. Caps are never skipped silently.
	UnknownModel string `yaml:"unknown_model"`
}

// The UnknownModel policies.
const (
	UnknownModelReject = "reject"
	UnknownModelAllow  = "allow"
)

// Price is what a model costs, in USD per million tokens.
type Price struct {
	InputPer1M  float64 `yaml:"input_per_1m"`
	OutputPer1M float64 `yaml:"output_per_1m"`
}

// DefaultPricing is the shipped price list (USD per 1M tokens, as the
// providers published them in 2025). A model matches its exact name or the
// longest name it starts with, so dated snapshots
// ("gpt-4o-mini-2024-07-18") find their family. pricing: in the config
// adds to it and overrides it.
var DefaultPricing = map[string]Price{
	// OpenAI
	"gpt-5":         {1.25, 10},
	"gpt-5-mini":    {0.25, 2},
	"gpt-5-nano":    {0.05, 0.40},
	"gpt-4.1":       {2, 8},
	"gpt-4.1-mini":  {0.40, 1.60},
	"gpt-4.1-nano":  {0.10, 0.40},
	"gpt-4o":        {2.50, 10},
	"gpt-4o-mini":   {0.15, 0.60},
	"gpt-4-turbo":   {10, 30},
	"gpt-4":         {30, 60},
	"gpt-3.5-turbo": {0.50, 1.50},
	"o1":            {15, 60},
	"o3":            {2, 8},
	"o3-mini":       {1.10, 4.40},
	"o4-mini":       {1.10, 4.40},
	// Anthropic
	"claude-opus-4-5":   {5, 25},
	"claude-opus-4":     {15, 75},
	"claude-sonnet-4":   {3, 15},
	"claude-haiku-4-5":  {1, 5},
	"claude-3-7-sonnet": {3, 15},
	"claude-3-5-sonnet": {3, 15},
	"claude-3-5-haiku":  {0.80, 4},
	"claude-3-opus":     {15, 75},
	"claude-3-sonnet":   {3, 15},
	"claude-3-haiku":    {0.25, 1.25},
	// Mistral
	"mistral-large":     {2, 6},
	"mistral-medium":    {0.40, 2},
	"mistral-small":     {0.10, 0.30},
	"open-mistral-nemo": {0.15, 0.15},
	"codestral":         {0.30, 0.90},
	"ministral-8b":      {0.10, 0.10},
	"ministral-3b":      {0.04, 0.04},
}

// PriceOf finds a model's price: the configured pricing first, then the
// shipped list; an exact name, else the longest known name the model
// starts with. ok is false for a model with no price.
func (c *Config) PriceOf(model string) (Price, bool) { return priceOf(c.Pricing, model) }

// priceOf finds model's price in pricing, else in DefaultPricing (see
// Config.PriceOf).
func priceOf(pricing map[string]Price, model string) (Price, bool) {
	for _, table := range []map[string]Price{pricing, DefaultPricing} {
		if p, ok := table[model]; ok {
			return p, true
		}
	}
	var names []string
	for _, table := range []map[string]Price{pricing, DefaultPricing} {
		for name := range table {
			if strings.HasPrefix(model, name) {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		return Price{}, false
	}
	// Longest first; the configured table wins a tie (it came first).
	sort.SliceStable(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	if p, ok := pricing[names[0]]; ok {
		return p, true
	}
	return DefaultPricing[names[0]], true
}

// setDefaults fills every zero field of b with its default.
func (b *Budget) setDefaults() {
	setDefault(&b.UnknownModel, UnknownModelReject)
}

func (v *validator) budget(b Budget, pricing map[string]Price) {
	v.check("budget.daily_usd", b.DailyUSD >= 0 && isFinite(b.DailyUSD), "must be 0 (no cap) or more (got %v)", b.DailyUSD)
	v.check("budget.monthly_usd", b.MonthlyUSD >= 0 && isFinite(b.MonthlyUSD), "must be 0 (no cap) or more (got %v)", b.MonthlyUSD)
	v.oneOf("budget.unknown_model", b.UnknownModel, UnknownModelReject, UnknownModelAllow)
	for name, p := range pricing {
		v.check("pricing."+name, p.InputPer1M >= 0 && p.OutputPer1M >= 0 && isFinite(p.InputPer1M) && isFinite(p.OutputPer1M),
			"prices must be 0 or more USD per 1M tokens")
	}
}

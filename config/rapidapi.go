package config

// RapidAPI configures the RapidAPI marketplace integration. Without a
// proxy secret, RapidAPI's headers are ignored (anyone could send them);
// without a webhook secret, its webhook is refused.
type RapidAPI struct {
	// ProxySecret is the X-RapidAPI-Proxy-Secret RapidAPI sends with every
	// call it forwards; from the environment. Calls that bring it are the
	// tenant "rapidapi:<X-RapidAPI-User>", on the tier of their
	// X-RapidAPI-Subscription.
	ProxySecret Secret `yaml:"proxy_secret"`
	// WebhookSecret signs RapidAPI's webhooks (X-RapidAPI-Signature, hex
	// HMAC-SHA256 of the body); from the environment.
	WebhookSecret Secret `yaml:"webhook_secret"`
	// MonthlyRequests is each tier's monthly call allowance, as
	// GET /v1/rapidapi/status reports it (RapidAPI enforces its plans
	// itself). Default free 1000, developer 10000, pro 100000; a tier not
	// listed reports no limit.
	MonthlyRequests map[string]int `yaml:"monthly_requests"`
}

func (r *RapidAPI) setDefaults() {
	if r.MonthlyRequests == nil {
		r.MonthlyRequests = map[string]int{TierFree: 1000, TierDeveloper: 10000, TierPro: 100000}
	}
}

func (v *validator) rapidAPI(r RapidAPI) {
	v.present("rapidapi.proxy_secret", r.ProxySecret)
	v.present("rapidapi.webhook_secret", r.WebhookSecret)
	for tier, n := range r.MonthlyRequests {
		path := "rapidapi.monthly_requests." + tier
		v.oneOf(path, tier, TierNames...)
		v.check(path, n >= 0, "must be 0 or more (got %d)", n)
	}
}

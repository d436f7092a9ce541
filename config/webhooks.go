package config

import (
	"fmt"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/webhook"
)

// Webhooks configures the delivery of job events to the callers' URLs.
type Webhooks struct {
	// AllowPrivateNetworks lets deliveries go to loopback, private,
	// link-local and other non-public addresses. Only for tests and
	// `reliapi dev`: it opens the service to SSRF. Default false.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// TimeoutS bounds one delivery attempt, 1 to 60 seconds. Default 15.
	TimeoutS int `yaml:"timeout_s"`
	// Concurrency is how many deliveries one worker process makes at
	// once, apart from its jobs, 1 to 10000. Default 32.
	Concurrency int `yaml:"concurrency"`
	// ScheduleS are the waits, in seconds, before each delivery attempt:
	// the first is after the event, each next one after the attempt before
	// (with ±10% jitter). After the last attempt fails the delivery is
	// dead-lettered. Default [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
	// (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
	ScheduleS []int `yaml:"schedule_s"`
	// Secrets sign each tenant's deliveries, by tenant ("default" while
	// authentication is not configured): Standard Webhooks secrets,
	// "whsec_" and a base64 key of 24 to 64 bytes, usually from the
	// environment ("${RELIAPI_WEBHOOK_SECRET}"). Several at once while a
	// secret is rotated: each delivery carries one signature per secret.
	Secrets map[string][]string `yaml:"secrets"`
}

// Timeout is TimeoutS as a duration.
func (w Webhooks) Timeout() time.Duration { return time.Duration(w.TimeoutS) * time.Second }

// Schedule is ScheduleS as durations.
func (w Webhooks) Schedule() []time.Duration {
	out := make([]time.Duration, len(w.ScheduleS))
	for i, s := range w.ScheduleS {
		out[i] = time.Duration(s) * time.Second
	}
	return out
}

// Guard is the address guard the settings ask for.
func (w Webhooks) Guard() webhook.Guard { return webhook.Guard{AllowPrivate: w.AllowPrivateNetworks} }

// DefaultWebhookSchedule is ScheduleS's default.
var DefaultWebhookSchedule = []int{0, 5, 300, 1800, 7200, 18000, 36000, 36000}

func (w *Webhooks) setDefaults() {
	setDefault(&w.TimeoutS, 15)
	setDefault(&w.Concurrency, 32)
	if len(w.ScheduleS) == 0 {
		w.ScheduleS = append([]int(nil), DefaultWebhookSchedule...)
	}
	initMap(&w.Secrets)
}

func (v *validator) webhooks(w Webhooks) {
	v.check("webhooks.timeout_s", w.TimeoutS >= 1 && w.TimeoutS <= 60, "must be 1 to 60 seconds (got %d)", w.TimeoutS)
	v.check("webhooks.concurrency", w.Concurrency >= 1 && w.Concurrency <= 10000, "must be 1 to 10000 (got %d)", w.Concurrency)
	v.check("webhooks.schedule_s", len(w.ScheduleS) <= 20, "at most 20 attempts (got %d)", len(w.ScheduleS))
	for i, s := range w.ScheduleS {
		v.check(fmt.Sprintf("webhooks.schedule_s[%d]", i), s >= 0 && s <= 7*86400, "must be 0 to 604800 seconds (got %d)", s)
	}
	for tenant, secrets := range w.Secrets {
		for i, s := range secrets {
			if _, err := webhook.ParseSecret(s); err != nil {
				// The message never quotes the value: it is a secret.
				v.add(fmt.Sprintf("webhooks.secrets.%s[%d]", tenant, i), "%s", err.Error())
			}
		}
	}
}

// subscription checks a target's default webhook.
func (v *validator) subscription(path string, s *reliapi.Subscription, g webhook.Guard) {
	if _, err := g.CheckURL(s.URL); err != nil {
		v.add(path+".url", "%s", err.Error())
	}
	for i, e := range s.Events {
		v.oneOf(fmt.Sprintf("%s.events[%d]", path, i), e, reliapi.JobEvents...)
	}
}

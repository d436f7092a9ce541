package budget

import "math"

// DefaultMaxTokens bounds the output of a call under a cost cap that names
// no max_tokens, so that its estimate is a real worst case; the call is
// sent with it.
const DefaultMaxTokens = 1024

// Price is what a model costs, in USD per million tokens.
type Price struct{ InputPer1M, OutputPer1M float64 }

// Cost is the USD cost of a call with these token counts, rounded to a
// picodollar: prices per million tokens are decimal fractions float64
// holds inexactly, and an answer should say $0.00000195, not
// $0.0000019499999999999995.
func (p Price) Cost(input, output int) float64 {
	return math.Round((float64(input)*p.InputPer1M+float64(output)*p.OutputPer1M)*1e6) / 1e12
}

// MaxOutput is the most output tokens that keep a call with input tokens
// within cap USD; 0 when even the input alone exceeds it.
func (p Price) MaxOutput(input int, cap float64) int {
	left := cap - p.Cost(input, 0)
	if left <= 0 || p.OutputPer1M <= 0 {
		if left > 0 {
			return math.MaxInt32
		}
		return 0
	}
	return int(math.Floor(left * 1e6 / p.OutputPer1M))
}

// nanos is a USD amount in whole nano-dollars, rounded up so that
// reservations never under-count.
func nanos(usd float64) int64 { return int64(math.Ceil(usd * 1e9)) }

// Package budget makes LLM cost predictable: it estimates a call's cost
// before it is made (input tokens counted with OpenAI's tokenizer for
// OpenAI models, approximated for others; output at max_tokens), prices
// the actual usage afterwards, and keeps each tenant's spend per UTC day
// and month in Redis.
//
// A call's estimate is reserved in the tenant's windows before the call,
// atomically against the caps, so concurrent calls cannot overrun them;
// afterwards the reservation is settled to the actual cost (or released
// when no call was made). Amounts are whole nano-dollars, so small calls
// add up exactly.
package budget

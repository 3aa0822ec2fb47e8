// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package pipeline is what every FD2 stage shares about a request: its exchange (ExchangeOf, the one
// typed value the stages pass on), its spans (StartSpan), and how an error reaches the client (Respond, and
// the `dsp_error` handler for handle_errors), always in FD2's JSON error shape.
package pipeline

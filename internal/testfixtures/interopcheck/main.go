// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command interopcheck prints one line telling whether the interop suite (the DSP platform's own fixture
// files) runs in this checkout, and why not. `make test` calls it so a skipped suite is never silent. Under
// CI=true a missing corpus exits 1, as the interop tests themselves fail there.
package main

import (
	"fmt"
	"os"

	"github.com/dsp-ai/fd2/internal/testfixtures"
)

func main() {
	dir, err := testfixtures.PlatformDir()
	if err != nil {
		fmt.Printf("interop suite did not run: %v\n", err)
		if testfixtures.CI() {
			os.Exit(1)
		}
		return
	}
	fmt.Printf("interop suite: the platform fixtures at %s are found; its tests run\n", dir)
}

//go:build tools

// Package tools pins the Regal linter. scripts/bootstrap.sh runs `go install
// github.com/styrainc/regal` inside this module, so go.mod and go.sum decide the exact version:
// `go install github.com/styrainc/regal@<version>` fails because the Go module proxy refuses the
// module's version list (@v/list), while it serves the pinned version itself.
package tools

import _ "github.com/styrainc/regal"

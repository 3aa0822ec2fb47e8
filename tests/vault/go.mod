module github.com/dsp-ai/fd2/tests/vault

go 1.26.0

require (
	github.com/dsp-ai/fd2 v0.0.0
	github.com/hashicorp/vault v1.21.4
)

replace github.com/dsp-ai/fd2 => ../..

replace github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.20.0

// Package check validates the manifests in deploy/k8s against the
// Kubernetes and KEDA API types, offline: every document is decoded
// strictly (an unknown or misspelt field, a duplicate key or a value of
// the wrong type fails) into the k8s.io/api type of its kind, or into
// KEDA's own Go API types (github.com/kedacore/keda/v2/apis/keda/v1alpha1)
// for ScaledObject and TriggerAuthentication, and KEDA's own pure
// validation functions run on the result.
//
// It is a module of its own so that the Kubernetes and KEDA dependency
// trees stay out of taskmill's go.mod; scripts/test-all.sh (make test)
// runs `go test ./...` in this directory.
package check

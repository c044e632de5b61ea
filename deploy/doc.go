// Package deploy holds pagebff's Kubernetes manifests (kubernetes/: a
// kustomize base and overlays) and, in kubernetes_test.go, their offline
// check: each kustomization is built in-process with kustomize, every
// object is decoded strictly into the Kubernetes API's Go types, and the
// objects are checked against each other and against pagebff's config.
//
// It is a module of its own so that kustomize and k8s.io/api never reach
// the pagebff binary's dependencies; it does not import pagebff. Run it
// with: cd deploy && go test ./...
package deploy

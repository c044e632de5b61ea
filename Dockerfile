# syntax=docker/dockerfile:1
# pagebff's image: the static binary on distroless, run as the nonroot
# user, with the repository's config/bff.yaml (every key at its default) at
# /config/bff.yaml, which pagebff finds from WORKDIR / as config/bff.yaml.
# deploy/kubernetes runs it as ghcr.io/pagebff/pagebff with its own config
# mounted at /etc/pagebff (BFF_CONFIG). Build from the repository root:
#   docker build -t ghcr.io/pagebff/pagebff:dev .
# The binary needs only go.mod, go.sum, cmd and internal (no embedded
# files); deploy/ (a module of its own), bench and chaos stay out of it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bff ./cmd/bff

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="pagebff" \
      org.opencontainers.image.description="pagebff: a Backend-for-Frontend that renders the home page from the User, Catalog and Activity services" \
      org.opencontainers.image.source="https://github.com/pagebff/pagebff"
COPY --from=build /out/bff /bff
COPY config/bff.yaml /config/bff.yaml
WORKDIR /
# Numeric (distroless's nonroot is 65532), so that Kubernetes'
# runAsNonRoot can verify the user from the image alone; the name
# "nonroot" cannot be checked without a runAsUser in the pod.
USER 65532:65532
# The public listener (server.addr); the admin listener (admin.addr, e.g.
# :9090 in deploy/kubernetes) is off unless configured.
EXPOSE 8080
ENTRYPOINT ["/bff"]

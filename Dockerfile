# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bff ./cmd/bff

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bff /bff
COPY config/bff.yaml /config/bff.yaml
WORKDIR /
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/bff"]

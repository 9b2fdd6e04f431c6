# Multi-stage build: a static dropwire binary on a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/dropwire ./cmd/dropwire

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dropwire /usr/local/bin/dropwire
USER nonroot:nonroot
# Only the file's path: listen, log format and the rest come from the
# file (logs are JSON without a terminal), so nothing here silently
# overrides it. DROPWIRE_* variables set at run time still do, as
# documented.
ENV DROPWIRE_CONFIG=/etc/dropwire/dropwire.yaml
EXPOSE 8080
# The image has no shell or curl: the binary probes itself, on the port
# the configuration listens on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/dropwire", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dropwire"]
CMD ["serve"]

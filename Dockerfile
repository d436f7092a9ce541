# Multi-stage build of a static reliapi binary on a distroless, non-root base:
#   docker build -t reliapi .                  (docker compose builds it the same way)
#   docker build --build-arg VERSION=$(git describe --tags --always) -t reliapi .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/reliapi ./cmd/reliapi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reliapi /reliapi
COPY config.example.yaml /etc/reliapi/config.yaml
ENV RELIAPI_CONFIG=/etc/reliapi/config.yaml
USER nonroot:nonroot
EXPOSE 8000 9091
# distroless has no shell or curl: the binary checks itself.
HEALTHCHECK --interval=30s --timeout=3s CMD ["/reliapi", "healthcheck"]
ENTRYPOINT ["/reliapi"]
CMD ["api"]

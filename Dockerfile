# Builds the one `moa` binary. The runtime image has no shell and runs as a non-root user;
# `moa serve SERVICE` is what docker-compose.yml runs in it. (`moa dev` needs the PostgreSQL
# server binaries and is meant for a developer machine, not this image.)

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/moa ./cmd/moa

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/moa /usr/local/bin/moa
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/moa"]
CMD ["help"]

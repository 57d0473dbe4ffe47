module github.com/cloudlicense/authority/deploy/docker/healthcheck

go 1.26.0

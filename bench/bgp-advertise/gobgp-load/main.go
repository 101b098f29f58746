// gobgp-load: preload gobgpd's global RIB with N IPv4 /32 and M IPv6 /128 through its
// gRPC API (AddPathStream, batches of 1000 paths), then wait until GetTable reports
// every destination. `gobgp global rib add` costs ~30 ms per route and `gobgp mrt
// inject` may exit before the server has read everything, so neither can load 200k
// routes in reasonable time. The prefixes are the same ones bench/lib/prefixes.ts
// generates: 198.18.0.0 + i and 2001:db8:1000:: + i.
//
// Build (GOPATH mode against Debian's golang-github-osrg-gobgp-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gobgp-load main.go
//
// Usage: gobgp-load -api 127.0.0.1:50051 -v4 100000 -v6 100000 -nh4 A -nh6 B
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// codec marshals with google.golang.org/protobuf directly. Debian's grpc 1.33 would
// use github.com/golang/protobuf 1.3, which cannot decode the API's newer generated
// messages ("protobuf tag not enough fields in Empty.state").
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error)   { return proto.Marshal(v.(proto.Message)) }
func (codec) Unmarshal(b []byte, v interface{}) error { return proto.Unmarshal(b, v.(proto.Message)) }
func (codec) Name() string                            { return "proto" }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobgp-load:", err)
		os.Exit(1)
	}
}

func v4Prefix(i int) string {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, 0xc6120000+uint32(i)) // 198.18.0.0 + i
	return net.IP(b).String()
}

func v6Prefix(i int) string {
	ip := net.ParseIP("2001:db8:1000::").To16()
	binary.BigEndian.PutUint32(ip[12:], uint32(i))
	return ip.String()
}

func main() {
	addr := flag.String("api", "127.0.0.1:50051", "gobgpd gRPC address")
	n4 := flag.Int("v4", 100000, "IPv4 /32 count")
	n6 := flag.Int("v6", 100000, "IPv6 /128 count")
	nh4 := flag.String("nh4", "", "IPv4 next hop (empty: gobgpd uses the session address)")
	nh6 := flag.String("nh6", "", "IPv6 next hop (needed on an IPv4 session)")
	batch := flag.Int("batch", 1000, "paths per AddPathStream message")
	flag.Parse()
	if *n4 > 1<<17 {
		must(fmt.Errorf("-v4 at most %d (198.18.0.0/15)", 1<<17))
	}

	conn, err := grpc.Dial(*addr, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(codec{})))
	must(err)
	defer conn.Close()
	c := api.NewGobgpApiClient(conn)
	ctx := context.Background()
	start := time.Now()

	origin, err := anypb.New(&api.OriginAttribute{Origin: 0})
	must(err)
	fam4 := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	fam6 := &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	nhv4 := *nh4
	if nhv4 == "" {
		nhv4 = "0.0.0.0"
	}
	nhAttr4, err := anypb.New(&api.NextHopAttribute{NextHop: nhv4})
	must(err)

	stream, err := c.AddPathStream(ctx)
	must(err)
	paths := make([]*api.Path, 0, *batch)
	flush := func() {
		if len(paths) == 0 {
			return
		}
		must(stream.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: paths}))
		paths = make([]*api.Path, 0, *batch)
	}
	for i := 0; i < *n4; i++ {
		nlri, err := anypb.New(&api.IPAddressPrefix{PrefixLen: 32, Prefix: v4Prefix(i)})
		must(err)
		paths = append(paths, &api.Path{Nlri: nlri, Pattrs: []*anypb.Any{origin, nhAttr4}, Family: fam4})
		if len(paths) == *batch {
			flush()
		}
	}
	flush()
	for i := 0; i < *n6; i++ {
		nlri, err := anypb.New(&api.IPAddressPrefix{PrefixLen: 128, Prefix: v6Prefix(i)})
		must(err)
		// RFC 4760: IPv6 routes carry their next hop in MP_REACH_NLRI.
		mp, err := anypb.New(&api.MpReachNLRIAttribute{Family: fam6, NextHops: []string{*nh6}, Nlris: []*anypb.Any{nlri}})
		must(err)
		paths = append(paths, &api.Path{Nlri: nlri, Pattrs: []*anypb.Any{origin, mp}, Family: fam6})
		if len(paths) == *batch {
			flush()
		}
	}
	flush()
	_, err = stream.CloseAndRecv()
	must(err)
	sent := time.Since(start)

	// The stream's reply comes after the server read every message; GetTable confirms
	// that every destination is in the global RIB before the session is enabled.
	deadline := time.Now().Add(120 * time.Second)
	for {
		t4, err := c.GetTable(ctx, &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: fam4})
		must(err)
		t6, err := c.GetTable(ctx, &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: fam6})
		must(err)
		if t4.NumDestination >= uint64(*n4) && t6.NumDestination >= uint64(*n6) {
			fmt.Printf("{\"v4\":%d,\"v6\":%d,\"sentMs\":%d,\"loadedMs\":%d}\n", t4.NumDestination, t6.NumDestination, sent.Milliseconds(), time.Since(start).Milliseconds())
			return
		}
		if time.Now().After(deadline) {
			must(fmt.Errorf("global RIB has %d IPv4 and %d IPv6 destinations, want %d and %d", t4.NumDestination, t6.NumDestination, *n4, *n6))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

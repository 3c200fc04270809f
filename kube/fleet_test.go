package kube_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// clusterLists is a client that tells of each LIST of Clusters it starts.
type clusterLists struct {
	client.Client
	started chan string
}

func (c clusterLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*clusterv1.ClusterList); ok {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		c.started <- o.Continue
	}
	return c.Client.List(ctx, list, opts...)
}

// The next page of Clusters is read while each works on the current one,
// and each still sees every page once, in the order of the LIST, one after
// the other.
func TestEachFleetPage_ReadsTheNextPageWhileEachWorks(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(testConfig, client.Options{Scheme: kube.Scheme, Mapper: kube.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	ns := "fleet-read-ahead"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("c%d", i)
		if err := managementcluster.CreateCluster(ctx, c, managementcluster.NewCluster(ns, name, "")); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	lists := clusterLists{Client: c, started: make(chan string, 10)}
	scope := kube.FleetScope{Namespaces: []string{ns}, PageSize: 2}
	var got []string
	working := false
	found, err := kube.EachFleetPage(ctx, lists, scope, func(page []konnector.DeployFacts) error {
		if working {
			return fmt.Errorf("each called for a page while it works on another")
		}
		working = true
		defer func() { working = false }()
		first := len(got) == 0
		for _, m := range page {
			got = append(got, m.Cluster.Name)
		}
		if !first {
			return nil
		}
		// The first page's LIST, then the next page's, started before each
		// returns: without the read-ahead it would wait here forever.
		for _, which := range []string{"first", "second"} {
			select {
			case token := <-lists.started:
				if (which == "second") != (token != "") {
					return fmt.Errorf("the %s LIST of Clusters has continue token %q", which, token)
				}
			case <-time.After(time.Minute):
				return fmt.Errorf("the %s page's LIST of Clusters did not start while each worked on the first page", which)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found != len(want) || !slices.Equal(got, want) {
		t.Errorf("found %d, each saw %s; want %d, %s", found, strings.Join(got, " "), len(want), strings.Join(want, " "))
	}
}

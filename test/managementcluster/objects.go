package managementcluster

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewCluster returns a ClusterClass-based Cluster with the given
// clusterConfig value (none when empty) and an initialized control plane.
func NewCluster(namespace, name, clusterConfig string) *clusterv1.Cluster {
	c := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{clusterv1.ClusterNameLabel: name}},
		Spec: clusterv1.ClusterSpec{Topology: clusterv1.Topology{
			ClassRef: clusterv1.ClusterClassRef{Name: "nutanix-quick-start"},
			Version:  "v1.33.1",
		}},
	}
	if clusterConfig != "" {
		c.Spec.Topology.Variables = []clusterv1.ClusterVariable{{Name: "clusterConfig", Value: apiextensionsv1.JSON{Raw: []byte(clusterConfig)}}}
	}
	c.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
	return c
}

// CreateCluster creates the Cluster and then writes its status, as CAPI's
// controllers would have.
func CreateCluster(ctx context.Context, c client.Client, cluster *clusterv1.Cluster) error {
	status := cluster.Status
	if err := c.Create(ctx, cluster); err != nil {
		return fmt.Errorf("creating Cluster %s/%s: %w", cluster.Namespace, cluster.Name, err)
	}
	cluster.Status = status
	if err := c.Status().Update(ctx, cluster); err != nil {
		return fmt.Errorf("writing the status of Cluster %s/%s: %w", cluster.Namespace, cluster.Name, err)
	}
	return nil
}

// NewCredentials returns a Prism Central credentials Secret.
func NewCredentials(namespace, name, username, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Data:       map[string][]byte{"username": []byte(username), "password": []byte(password)},
	}
}

// WriteKubeconfig writes a kubeconfig for the API server to path.
func (e *Env) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: e.Config.CertData,
		ClientKeyData:         e.Config.KeyData,
		Token:                 e.Config.BearerToken,
	}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

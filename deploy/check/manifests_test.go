package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// kinds maps apiVersion/kind to a fresh value of its Go API type. A kind
// the shipped files use but this table lacks fails the test, so nothing
// goes unchecked.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication": func() any { return &kedav1alpha1.TriggerAuthentication{} },
}

// metricsAPIMetadata are the trigger metadata keys of KEDA's metrics-api
// scaler (https://keda.sh/docs/2.17/scalers/metrics-api/); the scaler
// ignores others silently, so a misspelt key would go unnoticed.
var metricsAPIMetadata = map[string]bool{
	"url": true, "valueLocation": true, "targetValue": true, "activationTargetValue": true, "format": true,
	"authMode": true, "method": true, "keyParamName": true, "unsafeSsl": true, "aggregateFromKubeServiceEndpoints": true,
	"aggregationType": true,
}

// document is one YAML document of a manifest file.
type document struct {
	file string
	raw  []byte
}

func manifests(t *testing.T) []document {
	t.Helper()
	var files []string
	for _, pat := range []string{"../k8s/*.yaml", "../k8s/*/*.yaml"} {
		f, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v under deploy/k8s", files)
	}
	var docs []document
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := yaml.NewYAMLReader(bufioReader(b))
		for {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(stripComments(raw))) == 0 {
				continue
			}
			docs = append(docs, document{file: f, raw: raw})
		}
	}
	return docs
}

// TestManifestsDecodeStrictly: every document is a kind we know, and
// decodes into its API type with no unknown, duplicate or mistyped field.
func TestManifestsDecodeStrictly(t *testing.T) {
	seen := map[string]int{}
	for _, d := range manifests(t) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal(d.raw, &head); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		key := head.APIVersion + "/" + head.Kind
		newObj, ok := kinds[key]
		if !ok {
			t.Errorf("%s: %s is not a kind this check knows: add its Go type to kinds", d.file, key)
			continue
		}
		obj := newObj()
		if err := sigsyaml.UnmarshalStrict(d.raw, obj); err != nil {
			t.Errorf("%s: %s does not match the API schema: %v", d.file, key, err)
			continue
		}
		seen[head.Kind]++
		if err := validate(obj); err != nil {
			t.Errorf("%s: %s: %v", d.file, key, err)
		}
	}
	for _, k := range []string{"Deployment", "StatefulSet", "Service", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"} {
		if seen[k] == 0 {
			t.Errorf("no %s was checked", k)
		}
	}
}

// TestStrictDecodingCatchesMistakes: the check would fail on the
// mistakes it exists for.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"wrong type":         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
		"duplicate key":      "apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"bad quantity":       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, resources: {limits: {memory: lots}}}]}}}\n",
		"KEDA unknown field": "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {scaleTargetRef: {name: w}, minReplicas: 1, triggers: []}\n",
	} {
		var head struct{ APIVersion, Kind string }
		if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		obj := kinds[head.APIVersion+"/"+head.Kind]()
		if err := sigsyaml.UnmarshalStrict([]byte(doc), obj); err == nil {
			t.Errorf("%s: strict decoding accepted %q", name, doc)
		}
	}
}

// validate runs the checks beyond the schema: KEDA's own validation
// functions, the metrics-api metadata keys, and the pod hardening the
// deploy files promise.
func validate(obj any) error {
	switch o := obj.(type) {
	case *kedav1alpha1.ScaledObject:
		if err := kedav1alpha1.ValidateTriggers(o.Spec.Triggers); err != nil {
			return err
		}
		if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(o); err != nil {
			return err
		}
		if err := kedav1alpha1.CheckFallbackValid(o); err != nil {
			return err
		}
		for _, tr := range o.Spec.Triggers {
			if tr.Type != "metrics-api" {
				continue
			}
			for k := range tr.Metadata {
				if !metricsAPIMetadata[k] {
					return fmt.Errorf("metrics-api trigger: %q is not one of its metadata keys", k)
				}
			}
			for _, k := range []string{"url", "valueLocation", "targetValue"} {
				if tr.Metadata[k] == "" {
					return fmt.Errorf("metrics-api trigger: %s is required", k)
				}
			}
		}
	case *kedav1alpha1.TriggerAuthentication:
		if _, err := o.ValidateCreate(nil); err != nil {
			return err
		}
	case *appsv1.Deployment:
		return checkPod(o.Name, &o.Spec.Template.Spec)
	case *appsv1.StatefulSet:
		var claims []string
		for _, c := range o.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
		return checkPod(o.Name, &o.Spec.Template.Spec, claims...)
	}
	return nil
}

// checkPod checks names and the hardening of every container; claims
// are a StatefulSet's volume claim templates, which containers may mount.
func checkPod(name string, pod *corev1.PodSpec, claims ...string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", name, strings.Join(errs, "; "))
	}
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		return fmt.Errorf("pod security context: want runAsNonRoot and the RuntimeDefault seccomp profile")
	}
	volumes := map[string]bool{}
	for _, c := range claims {
		volumes[c] = true
	}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range pod.Containers {
		csc := c.SecurityContext
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
			csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
			return fmt.Errorf("container %s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop [ALL]", c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			return fmt.Errorf("container %s: want liveness and readiness probes", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				return fmt.Errorf("container %s mounts %q, which the pod does not define", c.Name, m.Name)
			}
		}
	}
	return nil
}

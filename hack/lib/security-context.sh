# Sourced by hack/cluster.sh, hack/knative.sh and hack/e2e-knative.sh: the
# container securityContext of knative/service.yaml, the one users install,
# so that the checks run the image exactly as it is deployed, and the one of
# the other containers they start.

# service_security_context INDENT: prints the `securityContext:` block of the
# function's container in knative/service.yaml, re-indented to INDENT spaces,
# comments dropped.
service_security_context() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  awk -v indent="$1" '
    /^ *securityContext:/ && !found { found = 1; base = match($0, /[^ ]/); print sprintf("%" indent "s", "") "securityContext:"; next }
    found == 1 {
      if ($0 ~ /^ *#/) next
      if (match($0, /[^ ]/) <= base) exit
      print sprintf("%" indent "s", "") substr($0, base)
    }
    END { if (!found) exit 1 }' "$root/knative/service.yaml"
}

# restricted_security_context INDENT [USER]: prints the securityContext of
# the containers the scripts start beside the product (CoreDNS, Traefik,
# cert-manager, probes), re-indented to INDENT spaces: the restricted Pod
# Security Standard, and runAsUser USER when given (for an image whose user
# is a name, which runAsNonRoot cannot check).
restricted_security_context() {
  local pad line
  pad=$(printf '%*s' "$1" '')
  echo "${pad}securityContext:"
  echo "$pad  runAsNonRoot: true"
  [[ -z ${2:-} ]] || echo "$pad  runAsUser: $2"
  for line in 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' 'capabilities: {drop: [ALL]}' 'seccompProfile: {type: RuntimeDefault}'; do
    echo "$pad  $line"
  done
}

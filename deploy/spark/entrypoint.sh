#!/bin/bash
# The spark image's entrypoint (deploy/Dockerfile, target spark). Spark on Kubernetes creates executor
# pods from the driver's image with the single argument `executor` and the settings in SPARK_* variables;
# this starts the executor the way Spark's own image does (apache/spark-docker, entrypoint.sh). Any other
# command (skygate serve, spark-submit, spark-class) runs as given.
set -eo pipefail

if [ "$1" != executor ]; then
  exec "$@"
fi

classpath="${SPARK_HOME}/conf:${SPARK_HOME}/jars/*:${PWD}"
java_opts=()
for name in "${!SPARK_JAVA_OPT_@}"; do
  java_opts+=("${!name}")
done

exec /usr/bin/tini -s -- java "${java_opts[@]}" \
  -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" -cp "$classpath" \
  org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
  --driver-url "$SPARK_DRIVER_URL" \
  --executor-id "$SPARK_EXECUTOR_ID" \
  --cores "$SPARK_EXECUTOR_CORES" \
  --app-id "$SPARK_APPLICATION_ID" \
  --hostname "$SPARK_EXECUTOR_POD_IP" \
  --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
  --podName "$SPARK_EXECUTOR_POD_NAME"

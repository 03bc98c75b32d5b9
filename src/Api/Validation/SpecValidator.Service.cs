using Google.Protobuf.Collections;

namespace Shoal.Api.Validation;

public static partial class SpecValidator
{
    // Above this many entries duplicate checks use a hash set; below it a scan is cheaper and allocates nothing.
    private const int LinearScanLimit = 16;

    public static ValidationResult Validate(ServiceSpec? spec)
    {
        if (spec is null)
        {
            return Missing("service");
        }

        var problems = new Problems("service", spec.Annotations?.Name);
        CheckRequiredDnsName(problems, spec.Annotations);
        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        CheckMode(problems, spec);

        if (spec.Task is null)
        {
            problems.Add("task must be provided (the task template with a container spec)");
        }
        else
        {
            CheckTask(problems, spec.Task);
        }

        if (spec.ModeCase is ServiceSpec.ModeOneofCase.ReplicatedJob or ServiceSpec.ModeOneofCase.GlobalJob && spec.Update is not null)
        {
            problems.Add("update must not be set for a job: jobs run to completion and are never rolled out");
        }

        CheckUpdateConfig(problems, spec.Update, "update");
        CheckUpdateConfig(problems, spec.Rollback, "rollback");
        CheckNetworkAttachments(problems, spec.Networks, "networks");
        CheckEndpoint(problems, spec.Endpoint);
        return problems.ToResult();
    }

    private static void CheckMode(Problems problems, ServiceSpec spec)
    {
        switch (spec.ModeCase)
        {
            case ServiceSpec.ModeOneofCase.Replicated:
                if (spec.Replicated.Replicas < 0)
                {
                    problems.Add($"replicas must be >= 0, got {spec.Replicated.Replicas}");
                }

                break;
            case ServiceSpec.ModeOneofCase.ReplicatedJob:
                if (spec.ReplicatedJob.MaxConcurrent < 0)
                {
                    problems.Add($"replicated_job.max_concurrent must be >= 0, got {spec.ReplicatedJob.MaxConcurrent}");
                }

                if (spec.ReplicatedJob.TotalCompletions < 0)
                {
                    problems.Add($"replicated_job.total_completions must be >= 0, got {spec.ReplicatedJob.TotalCompletions}");
                }

                break;
            case ServiceSpec.ModeOneofCase.Global:
            case ServiceSpec.ModeOneofCase.GlobalJob:
                break;
            default:
                problems.Add("mode must be set: one of replicated, global, replicated_job or global_job");
                break;
        }
    }

    private static void CheckTask(Problems problems, TaskSpec task)
    {
        switch (task.RuntimeCase)
        {
            case TaskSpec.RuntimeOneofCase.Container:
                CheckContainer(problems, task.Container);
                break;
            case TaskSpec.RuntimeOneofCase.Plugin:
                CheckPlugin(problems, task.Plugin);
                break;
            case TaskSpec.RuntimeOneofCase.Attachment:
                problems.Add("task.attachment cannot be used in a service: network attachment tasks are created by the system");
                break;
            default:
                problems.Add("task has no runtime: set task.container (or task.plugin)");
                break;
        }

        CheckRuntimeName(problems, task);
        CheckResources(problems, task.Resources);
        CheckRestartPolicy(problems, task.Restart);
        CheckPlacement(problems, task.Placement);
        CheckNetworkAttachments(problems, task.Networks, "task.networks");
    }

    private static void CheckRuntimeName(Problems problems, TaskSpec task)
    {
        var expected = task.RuntimeName switch
        {
            "" => task.RuntimeCase,
            "container" => TaskSpec.RuntimeOneofCase.Container,
            "plugin" => TaskSpec.RuntimeOneofCase.Plugin,
            "attachment" => TaskSpec.RuntimeOneofCase.Attachment,
            _ => TaskSpec.RuntimeOneofCase.None,
        };
        if (expected == TaskSpec.RuntimeOneofCase.None && task.RuntimeName.Length > 0)
        {
            problems.Add($"task.runtime_name {Text.Quote(task.RuntimeName)} is not supported (container, plugin or attachment)");
        }
        else if (expected != task.RuntimeCase && task.RuntimeCase != TaskSpec.RuntimeOneofCase.None)
        {
            problems.Add($"task.runtime_name {Text.Quote(task.RuntimeName)} does not match the spec given "
                + $"(task.{RuntimeField(task.RuntimeCase)})");
        }
    }

    private static string RuntimeField(TaskSpec.RuntimeOneofCase runtime) => runtime switch
    {
        TaskSpec.RuntimeOneofCase.Container => "container",
        TaskSpec.RuntimeOneofCase.Plugin => "plugin",
        TaskSpec.RuntimeOneofCase.Attachment => "attachment",
        _ => "none",
    };

    private static void CheckPlugin(Problems problems, PluginSpec plugin)
    {
        if (plugin.Name.Length == 0)
        {
            problems.Add("task.plugin.name must be provided (the name the plugin is installed under)");
        }

        if (plugin.Remote.Length == 0)
        {
            problems.Add("task.plugin.remote must be provided (the plugin image reference to pull)");
        }
        else if (ImageReference.Check(plugin.Remote) is { } reason)
        {
            problems.Add($"task.plugin.remote {Text.Quote(plugin.Remote)} {reason}");
        }

        CheckEnv(problems, plugin.Env, "task.plugin.env");
    }

    private static void CheckContainer(Problems problems, ContainerSpec container)
    {
        if (container.Image.Length == 0)
        {
            problems.Add("task.container.image must be provided");
        }
        else if (ImageReference.Check(container.Image) is { } reason)
        {
            problems.Add($"task.container.image {Text.Quote(container.Image)} {reason}");
        }

        CheckLabels(problems, container.Labels, "task.container.labels");
        CheckEnv(problems, container.Env, "task.container.env");
        CheckMounts(problems, container.Mounts);

        CheckDuration(problems, container.StopGracePeriod, "task.container.stop_grace_period");

        CheckHealthCheck(problems, container.Healthcheck);
        CheckSecretReferences(problems, container.Secrets);
        CheckConfigReferences(problems, container);
        CheckUlimits(problems, container.Ulimits);

        if (container.OomScoreAdj is < SpecLimits.MinOomScoreAdj or > SpecLimits.MaxOomScoreAdj)
        {
            problems.Add($"task.container.oom_score_adj must be between {SpecLimits.MinOomScoreAdj} and "
                + $"{SpecLimits.MaxOomScoreAdj}, got {container.OomScoreAdj}");
        }
    }

    private static void CheckEnv(Problems problems, RepeatedField<string> env, string field)
    {
        for (var i = 0; i < env.Count; i++)
        {
            var entry = env[i];
            if (entry.Length == 0)
            {
                problems.Add($"{field}[{i}] is empty (expected KEY=value)");
            }
            else if (entry[0] == '=')
            {
                problems.Add($"{field}[{i}] {Text.Quote(entry)} has no variable name before '='");
            }
        }
    }

    private static void CheckMounts(Problems problems, RepeatedField<Mount> mounts)
    {
        HashSet<string>? targets = mounts.Count > LinearScanLimit ? new(StringComparer.Ordinal) : null;
        for (var i = 0; i < mounts.Count; i++)
        {
            var mount = mounts[i];
            if (!System.Enum.IsDefined(mount.Type))
            {
                problems.Add($"task.container.mounts[{i}].type has unknown value {(int)mount.Type}");
                continue;
            }

            CheckMount(problems, mount, i);
            if (mount.Target.Length > 0 && IsDuplicateTarget(mounts, i, targets))
            {
                problems.Add($"task.container.mounts[{i}].target {Text.Quote(mount.Target)} is already a mount point of an earlier mount");
            }
        }
    }

    private static bool IsDuplicateTarget(RepeatedField<Mount> mounts, int index, HashSet<string>? seen)
    {
        var target = mounts[index].Target;
        if (seen is not null)
        {
            return !seen.Add(target);
        }

        for (var j = 0; j < index; j++)
        {
            if (string.Equals(mounts[j].Target, target, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static void CheckMount(Problems problems, Mount mount, int index)
    {
        var type = mount.Type;
        string TypeName() => type.ToString().ToLowerInvariant();
        if (mount.Target.Length == 0)
        {
            problems.Add($"task.container.mounts[{index}].target must be provided");
        }
        else if (type != Mount.Types.Type.Npipe)
        {
            if (mount.Target[0] != '/')
            {
                problems.Add($"task.container.mounts[{index}].target {Text.Quote(mount.Target)} must be an absolute path");
            }
            else if (mount.Target == "/")
            {
                problems.Add($"task.container.mounts[{index}].target cannot be \"/\"");
            }
        }

        switch (type)
        {
            case Mount.Types.Type.Bind:
                if (mount.Source.Length == 0)
                {
                    problems.Add($"task.container.mounts[{index}].source must be provided for a bind mount (a host path)");
                }
                else if (mount.Source[0] != '/')
                {
                    problems.Add($"task.container.mounts[{index}].source {Text.Quote(mount.Source)} must be an absolute host path for a bind mount");
                }

                break;
            case Mount.Types.Type.Tmpfs:
                if (mount.Source.Length > 0)
                {
                    problems.Add($"task.container.mounts[{index}].source must be empty for a tmpfs mount, got {Text.Quote(mount.Source)}");
                }

                if (mount.TmpfsOptions is { SizeBytes: < 0 })
                {
                    problems.Add($"task.container.mounts[{index}].tmpfs_options.size_bytes must be >= 0, got {mount.TmpfsOptions.SizeBytes}");
                }

                break;
            case Mount.Types.Type.Npipe:
            case Mount.Types.Type.Cluster:
                if (mount.Source.Length == 0)
                {
                    problems.Add($"task.container.mounts[{index}].source must be provided for a {TypeName()} mount");
                }

                break;
            case Mount.Types.Type.Volume:
            default:
                break;
        }

        if (mount.BindOptions is not null && type != Mount.Types.Type.Bind)
        {
            problems.Add($"task.container.mounts[{index}].bind_options are only allowed for bind mounts, this one is {TypeName()}");
        }

        if (mount.VolumeOptions is not null)
        {
            if (type != Mount.Types.Type.Volume)
            {
                problems.Add($"task.container.mounts[{index}].volume_options are only allowed for volume mounts, this one is {TypeName()}");
            }

            CheckLabels(problems, mount.VolumeOptions.Labels, $"task.container.mounts[{index}].volume_options.labels");
        }

        if (mount.TmpfsOptions is not null && type != Mount.Types.Type.Tmpfs)
        {
            problems.Add($"task.container.mounts[{index}].tmpfs_options are only allowed for tmpfs mounts, this one is {TypeName()}");
        }
    }

    private static void CheckHealthCheck(Problems problems, HealthConfig? health)
    {
        if (health is null)
        {
            return;
        }

        if (health.Test.Count > 0)
        {
            switch (health.Test[0])
            {
                case "NONE":
                    break;
                case "CMD" or "CMD-SHELL" when health.Test.Count < 2:
                    problems.Add($"task.container.healthcheck.test {Text.Quote(health.Test[0])} must be followed by the command to run");
                    break;
                case "CMD" or "CMD-SHELL":
                    break;
                default:
                    problems.Add($"task.container.healthcheck.test must start with NONE, CMD or CMD-SHELL, got {Text.Quote(health.Test[0])}");
                    break;
            }
        }

        CheckHealthDuration(problems, health.Interval, "interval");
        CheckHealthDuration(problems, health.Timeout, "timeout");
        CheckHealthDuration(problems, health.StartPeriod, "start_period");
        CheckHealthDuration(problems, health.StartInterval, "start_interval");
        if (health.Retries < 0)
        {
            problems.Add($"task.container.healthcheck.retries must be >= 0, got {health.Retries}");
        }
    }

    private static void CheckHealthDuration(Problems problems, Google.Protobuf.WellKnownTypes.Duration? duration, string name)
    {
        var nanos = CheckDuration(problems, duration, "task.container.healthcheck", name);
        var minimum = Durations.ToNanos(SpecLimits.MinHealthCheckDuration);
        if (nanos is { } value && value != 0 && value < minimum)
        {
            problems.Add($"task.container.healthcheck.{name} must be 0 (the default) or at least "
                + $"{Text.FormatDuration(minimum)}, got {Text.FormatDuration(value)}");
        }
    }

    private static void CheckSecretReferences(Problems problems, RepeatedField<SecretReference> secrets)
    {
        Dictionary<string, int>? seen = secrets.Count > LinearScanLimit ? new(StringComparer.Ordinal) : null;
        for (var i = 0; i < secrets.Count; i++)
        {
            var reference = secrets[i];
            string Field() => $"task.container.secrets[{i}]";
            if (reference.SecretId.Length == 0 || reference.SecretName.Length == 0)
            {
                problems.Add($"{Field()} must give both secret_id and secret_name, got id {Text.Quote(reference.SecretId)} "
                    + $"and name {Text.Quote(reference.SecretName)}");
            }

            if (reference.TargetCase != SecretReference.TargetOneofCase.File)
            {
                problems.Add($"{Field()} ({Text.Quote(reference.SecretName)}) has no target: set file (the file under /run/secrets)");
                continue;
            }

            var fileName = reference.File.Name;
            if (fileName.Length == 0)
            {
                problems.Add($"{Field()} ({Text.Quote(reference.SecretName)}) file.name must be provided");
                continue;
            }

            var earlier = FindEarlierTarget(secrets, i, seen, static s => s.TargetCase == SecretReference.TargetOneofCase.File ? s.File.Name : null);
            if (earlier >= 0)
            {
                problems.Add($"secret references {Text.Quote(secrets[earlier].SecretName)} and {Text.Quote(reference.SecretName)} "
                    + $"have the same target file {Text.Quote(fileName)} ({Field()})");
            }
        }
    }

    private static void CheckConfigReferences(Problems problems, ContainerSpec container)
    {
        var configs = container.Configs;
        var credentialSpecConfig = container.Privileges?.CredentialSpec?.SourceCase == Privileges.Types.CredentialSpec.SourceOneofCase.Config
            ? container.Privileges.CredentialSpec.Config
            : string.Empty;
        var credentialSpecConfigFound = false;
        Dictionary<string, int>? seen = configs.Count > LinearScanLimit ? new(StringComparer.Ordinal) : null;
        for (var i = 0; i < configs.Count; i++)
        {
            var reference = configs[i];
            string Field() => $"task.container.configs[{i}]";
            if (reference.ConfigId.Length == 0 || reference.ConfigName.Length == 0)
            {
                problems.Add($"{Field()} must give both config_id and config_name, got id {Text.Quote(reference.ConfigId)} "
                    + $"and name {Text.Quote(reference.ConfigName)}");
            }

            switch (reference.TargetCase)
            {
                case ConfigReference.TargetOneofCase.Runtime:
                    credentialSpecConfigFound |= credentialSpecConfig.Length > 0 && reference.ConfigId == credentialSpecConfig;
                    continue;
                case ConfigReference.TargetOneofCase.File:
                    break;
                default:
                    problems.Add($"{Field()} ({Text.Quote(reference.ConfigName)}) has no target: set file or runtime");
                    continue;
            }

            var fileName = reference.File.Name;
            if (fileName.Length == 0)
            {
                problems.Add($"{Field()} ({Text.Quote(reference.ConfigName)}) file.name must be provided");
                continue;
            }

            var earlier = FindEarlierTarget(configs, i, seen, static c => c.TargetCase == ConfigReference.TargetOneofCase.File ? c.File.Name : null);
            if (earlier >= 0)
            {
                problems.Add($"config references {Text.Quote(configs[earlier].ConfigName)} and {Text.Quote(reference.ConfigName)} "
                    + $"have the same target file {Text.Quote(fileName)} ({Field()})");
            }
        }

        if (credentialSpecConfig.Length > 0 && !credentialSpecConfigFound)
        {
            problems.Add($"task.container.privileges.credential_spec names config {Text.Quote(credentialSpecConfig)}, "
                + "which is not among task.container.configs with a runtime target");
        }
    }

    /// <summary>
    /// The index of an earlier entry with the same target file as entry <paramref name="index"/>, or -1.
    /// With <paramref name="seen"/> (long lists) each call records the entry; otherwise earlier entries are scanned.
    /// </summary>
    private static int FindEarlierTarget<T>(RepeatedField<T> items, int index, Dictionary<string, int>? seen, Func<T, string?> target)
    {
        var name = target(items[index])!;
        if (seen is not null)
        {
            return seen.TryAdd(name, index) ? -1 : seen[name];
        }

        for (var j = 0; j < index; j++)
        {
            if (string.Equals(target(items[j]), name, StringComparison.Ordinal))
            {
                return j;
            }
        }

        return -1;
    }

    private static void CheckUlimits(Problems problems, RepeatedField<Ulimit> ulimits)
    {
        for (var i = 0; i < ulimits.Count; i++)
        {
            var ulimit = ulimits[i];
            if (ulimit.Name.Length == 0)
            {
                problems.Add($"task.container.ulimits[{i}].name must be provided");
            }

            // -1 means unlimited, as in `docker run --ulimit nofile=-1:-1`.
            if (ulimit.Soft < -1 || ulimit.Hard < -1)
            {
                problems.Add($"task.container.ulimits[{i}] ({Text.Quote(ulimit.Name)}) limits must be >= 0 or -1 (unlimited), "
                    + $"got soft {ulimit.Soft} and hard {ulimit.Hard}");
            }
            else if (ulimit.Hard != -1 && (ulimit.Soft == -1 || ulimit.Soft > ulimit.Hard))
            {
                problems.Add($"task.container.ulimits[{i}] ({Text.Quote(ulimit.Name)}) soft limit {ulimit.Soft} must not exceed "
                    + $"hard limit {ulimit.Hard}");
            }
        }
    }

    private static void CheckResources(Problems problems, ResourceRequirements? resources)
    {
        if (resources is null)
        {
            return;
        }

        var limits = resources.Limits;
        var reservations = resources.Reservations;
        if (limits is not null)
        {
            CheckCpuAndMemory(problems, limits.NanoCpus, limits.MemoryBytes, "task.resources.limits");
            if (limits.Pids < 0)
            {
                problems.Add($"task.resources.limits.pids must be >= 0, got {limits.Pids}");
            }
        }

        if (reservations is not null)
        {
            CheckCpuAndMemory(problems, reservations.NanoCpus, reservations.MemoryBytes, "task.resources.reservations");
            CheckGenericResources(problems, reservations.Generic);
        }

        // moby refuses a memory reservation above the limit; a CPU reservation above the limit could never be used either.
        if (limits is not null && reservations is not null)
        {
            if (limits.NanoCpus > 0 && reservations.NanoCpus > limits.NanoCpus)
            {
                problems.Add($"task.resources.reservations.nano_cpus ({reservations.NanoCpus}) must not exceed "
                    + $"task.resources.limits.nano_cpus ({limits.NanoCpus})");
            }

            if (limits.MemoryBytes > 0 && reservations.MemoryBytes > limits.MemoryBytes)
            {
                problems.Add($"task.resources.reservations.memory_bytes ({reservations.MemoryBytes}) must not exceed "
                    + $"task.resources.limits.memory_bytes ({limits.MemoryBytes})");
            }
        }
    }

    private static void CheckCpuAndMemory(Problems problems, long nanoCpus, long memoryBytes, string field)
    {
        if (nanoCpus < 0)
        {
            problems.Add($"{field}.nano_cpus must be >= 0, got {nanoCpus}");
        }
        else if (nanoCpus is > 0 and < SpecLimits.MinNanoCpus)
        {
            problems.Add($"{field}.nano_cpus must be 0 (none) or at least {SpecLimits.MinNanoCpus} (0.001 CPU), got {nanoCpus}");
        }

        if (memoryBytes < 0)
        {
            problems.Add($"{field}.memory_bytes must be >= 0, got {memoryBytes}");
        }
        else if (memoryBytes is > 0 and < SpecLimits.MinMemoryBytes)
        {
            problems.Add($"{field}.memory_bytes must be 0 (none) or at least {SpecLimits.MinMemoryBytes} (4 MiB), got {memoryBytes}");
        }
    }

    private static void CheckGenericResources(Problems problems, RepeatedField<GenericResource> generic)
    {
        for (var i = 0; i < generic.Count; i++)
        {
            var resource = generic[i];
            string Field() => $"task.resources.reservations.generic[{i}]";
            switch (resource.ResourceCase)
            {
                case GenericResource.ResourceOneofCase.Discrete:
                    if (resource.Discrete.Kind.Length == 0)
                    {
                        problems.Add($"{Field()}.discrete.kind must be provided");
                    }

                    if (resource.Discrete.Value < 0)
                    {
                        problems.Add($"{Field()}.discrete.value must be >= 0, got {resource.Discrete.Value}");
                    }

                    break;
                case GenericResource.ResourceOneofCase.Named:
                    if (resource.Named.Kind.Length == 0 || resource.Named.Value.Length == 0)
                    {
                        problems.Add($"{Field()}.named must give both kind and value, got kind {Text.Quote(resource.Named.Kind)} "
                            + $"and value {Text.Quote(resource.Named.Value)}");
                    }

                    break;
                default:
                    problems.Add($"{Field()} must be either discrete or named");
                    break;
            }
        }
    }

    private static void CheckRestartPolicy(Problems problems, RestartPolicy? restart)
    {
        if (restart is null)
        {
            return;
        }

        CheckEnum(problems, restart.Condition, "task.restart.condition");
        CheckDuration(problems, restart.Delay, "task.restart.delay");
        CheckDuration(problems, restart.Window, "task.restart.window");
        if (restart.HasMaxAttempts && restart.MaxAttempts < 0)
        {
            problems.Add($"task.restart.max_attempts must be >= 0 (or unset for unlimited), got {restart.MaxAttempts}");
        }
    }

    private static void CheckPlacement(Problems problems, Placement? placement)
    {
        if (placement is null)
        {
            return;
        }

        for (var i = 0; i < placement.Constraints.Count; i++)
        {
            var constraint = placement.Constraints[i];
            if (PlacementConstraint.Check(constraint) is { } reason)
            {
                problems.Add($"task.placement.constraints[{i}] {Text.Quote(constraint)} {reason}");
            }
        }

        for (var i = 0; i < placement.Preferences.Count; i++)
        {
            var preference = placement.Preferences[i];
            if (preference.PreferenceCase != PlacementPreference.PreferenceOneofCase.Spread)
            {
                problems.Add($"task.placement.preferences[{i}] must set spread");
                continue;
            }

            var descriptor = preference.Spread.SpreadDescriptor;
            if (descriptor.Length == 0)
            {
                problems.Add($"task.placement.preferences[{i}].spread.spread_descriptor must be provided (such as node.labels.zone)");
            }
            else if (!PlacementConstraint.IsSpreadDescriptor(descriptor))
            {
                problems.Add($"task.placement.preferences[{i}].spread.spread_descriptor {Text.Quote(descriptor)} must be "
                    + "node.labels.<label> or engine.labels.<label>");
            }
        }

        if (placement.MaxReplicas < 0)
        {
            problems.Add($"task.placement.max_replicas must be >= 0 (0 = unlimited), got {placement.MaxReplicas}");
        }
    }

    private static void CheckUpdateConfig(Problems problems, UpdateConfig? update, string field)
    {
        if (update is null)
        {
            return;
        }

        if (update.Parallelism < 0)
        {
            problems.Add($"{field}.parallelism must be >= 0 (0 = all at once), got {update.Parallelism}");
        }

        CheckDuration(problems, update.Delay, field, "delay");
        CheckDuration(problems, update.Monitor, field, "monitor");
        CheckEnum(problems, update.FailureAction, field, "failure_action");
        CheckEnum(problems, update.Order, field, "order");

        // Written so that NaN fails too: every comparison with NaN is false.
        var ratio = update.MaxFailureRatio;
        if (!(ratio >= 0 && ratio <= 1))
        {
            problems.Add($"{field}.max_failure_ratio must be between 0 and 1, got "
                + ratio.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static void CheckNetworkAttachments(Problems problems, RepeatedField<NetworkAttachmentConfig> networks, string field)
    {
        for (var i = 0; i < networks.Count; i++)
        {
            if (networks[i].Target.Length == 0)
            {
                problems.Add($"{field}[{i}].target must be provided (a network name or ID)");
            }
        }
    }

    private static void CheckEndpoint(Problems problems, EndpointSpec? endpoint)
    {
        if (endpoint is null)
        {
            return;
        }

        CheckEnum(problems, endpoint.Mode, "endpoint.mode");
        var ports = endpoint.Ports;
        HashSet<long>? published = ports.Count > LinearScanLimit ? [] : null;
        for (var i = 0; i < ports.Count; i++)
        {
            var port = ports[i];
            if (!System.Enum.IsDefined(port.Protocol))
            {
                problems.Add($"endpoint.ports[{i}].protocol has unknown value {(int)port.Protocol}");
            }

            if (!System.Enum.IsDefined(port.PublishMode))
            {
                problems.Add($"endpoint.ports[{i}].publish_mode has unknown value {(int)port.PublishMode}");
            }
            if (port.TargetPort is 0 or > 65535)
            {
                problems.Add($"endpoint.ports[{i}]: target port {port.TargetPort} is out of range (1-65535)");
            }

            if (port.PublishedPort > 65535)
            {
                problems.Add($"endpoint.ports[{i}]: published port {port.PublishedPort} is out of range (1-65535), "
                    + "or 0 to pick one from the dynamic range");
            }

            // SwarmKit: DNS round-robin gives no virtual IP for the routing mesh to balance over.
            if (endpoint.Mode == ResolutionMode.Dnsrr && port.PublishMode == PublishMode.Ingress)
            {
                problems.Add($"endpoint.ports[{i}]: port published in ingress mode cannot be used with dnsrr endpoint mode "
                    + "(publish it in host mode or use vip)");
            }

            if (port.PublishedPort != 0 && IsDuplicatePublishedPort(ports, i, published))
            {
                problems.Add($"endpoint.ports[{i}]: published port {port.PublishedPort}/{ProtocolName(port.Protocol)} is "
                    + "published more than once");
            }
        }
    }

    private static bool IsDuplicatePublishedPort(RepeatedField<PortConfig> ports, int index, HashSet<long>? seen)
    {
        var port = ports[index];
        if (seen is not null)
        {
            return !seen.Add(((long)port.Protocol << 32) | port.PublishedPort);
        }

        for (var j = 0; j < index; j++)
        {
            if (ports[j].PublishedPort == port.PublishedPort && ports[j].Protocol == port.Protocol)
            {
                return true;
            }
        }

        return false;
    }

    private static string ProtocolName(PortProtocol protocol) => protocol switch
    {
        PortProtocol.Tcp => "tcp",
        PortProtocol.Udp => "udp",
        PortProtocol.Sctp => "sctp",
        _ => ((int)protocol).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

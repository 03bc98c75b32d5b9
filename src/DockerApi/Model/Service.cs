using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

// Docker's swarm service types (moby api/types/swarm service.go, task.go, container.go, network.go, mount).
// Fields Go marks `omitempty` are left out when zero, so what we write reads like moby's answers; durations are int64
// nanoseconds. The classes hold whatever the client sends: validation is the control API's.

/// <summary>A swarm service (<c>GET /services</c>, <c>GET /services/{id}</c>).</summary>
public sealed class Service
{
    public string ID { get; set; } = string.Empty;

    public ObjectVersion Version { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? UpdatedAt { get; set; }

    /// <summary>The spec as stored: sent back unchanged by <c>service scale/update</c> and <c>stack deploy</c>.</summary>
    public ServiceSpec Spec { get; set; } = new();

    /// <summary>The spec before the last update; present after an update only.</summary>
    public ServiceSpec? PreviousSpec { get; set; }

    public Endpoint Endpoint { get; set; } = new();

    /// <summary>Absent until an update or rollback starts.</summary>
    public UpdateStatus? UpdateStatus { get; set; }

    /// <summary>Task counts; only with <c>GET /services?status=true</c>.</summary>
    public ServiceStatus? ServiceStatus { get; set; }

    /// <summary>Present for job modes only (the CLI uses its presence to recognise a job).</summary>
    public JobStatus? JobStatus { get; set; }
}

/// <summary>What the operator declares for a service (<c>POST /services/create</c> and <c>/update</c> bodies).</summary>
public sealed class ServiceSpec
{
    public string? Name { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public TaskSpec TaskTemplate { get; set; } = new();

    public ServiceMode Mode { get; set; } = new();

    public UpdateConfig? UpdateConfig { get; set; }

    public UpdateConfig? RollbackConfig { get; set; }

    /// <summary>Deprecated by Docker (API 1.44) in favour of <see cref="TaskSpec.Networks"/>; kept so old specs round-trip.</summary>
    public List<NetworkAttachmentConfig>? Networks { get; set; }

    public EndpointSpec? EndpointSpec { get; set; }
}

/// <summary>How many tasks a service runs, and where. Exactly one member is set.</summary>
public sealed class ServiceMode
{
    public ReplicatedService? Replicated { get; set; }

    public GlobalService? Global { get; set; }

    public ReplicatedJob? ReplicatedJob { get; set; }

    public GlobalJob? GlobalJob { get; set; }
}

public sealed class ReplicatedService
{
    /// <summary>Absent in a request means 1; always present in answers (the CLI's progress display needs it).</summary>
    public ulong? Replicas { get; set; }
}

public sealed class GlobalService;

public sealed class ReplicatedJob
{
    /// <summary>Absent in a request means 1; always present in answers.</summary>
    public ulong? MaxConcurrent { get; set; }

    /// <summary>Absent in a request means <see cref="MaxConcurrent"/>; always present in answers.</summary>
    public ulong? TotalCompletions { get; set; }
}

public sealed class GlobalJob;

/// <summary>How tasks are replaced on an update (<c>UpdateConfig</c>) or a rollback (<c>RollbackConfig</c>).</summary>
public sealed class UpdateConfig
{
    /// <summary>Tasks updated at once; 0 = all.</summary>
    public ulong Parallelism { get; set; }

    /// <summary>Nanoseconds between batches.</summary>
    public long? Delay { get; set; }

    /// <summary>One of <see cref="FailureActions"/>, or empty for the default.</summary>
    public string? FailureAction { get; set; }

    /// <summary>Nanoseconds each new task is watched for failure.</summary>
    public long? Monitor { get; set; }

    public float MaxFailureRatio { get; set; }

    /// <summary>One of <see cref="UpdateOrders"/>, or empty for the default.</summary>
    public string Order { get; set; } = string.Empty;
}

/// <summary>Values of <see cref="UpdateConfig.FailureAction"/>.</summary>
public static class FailureActions
{
    public const string Pause = "pause";
    public const string Continue = "continue";
    public const string Rollback = "rollback";
}

/// <summary>Values of <see cref="UpdateConfig.Order"/>.</summary>
public static class UpdateOrders
{
    public const string StopFirst = "stop-first";
    public const string StartFirst = "start-first";
}

/// <summary>How a service is reached: the resolution mode and the published ports.</summary>
public sealed class EndpointSpec
{
    /// <summary>"vip" or "dnsrr".</summary>
    public string? Mode { get; set; }

    public List<PortConfig>? Ports { get; set; }
}

public sealed class PortConfig
{
    public string? Name { get; set; }

    /// <summary>"tcp", "udp" or "sctp".</summary>
    public string? Protocol { get; set; }

    public uint TargetPort { get; set; }

    /// <summary>0 in a spec = allocate one from the dynamic range.</summary>
    public uint PublishedPort { get; set; }

    /// <summary>"ingress" (routing mesh) or "host".</summary>
    public string? PublishMode { get; set; }
}

/// <summary>What the allocator made of the endpoint spec: the actual ports and the virtual IPs.</summary>
public sealed class Endpoint
{
    public EndpointSpec Spec { get; set; } = new();

    public List<PortConfig>? Ports { get; set; }

    public List<EndpointVirtualIP>? VirtualIPs { get; set; }
}

public sealed class EndpointVirtualIP
{
    public string? NetworkID { get; set; }

    /// <summary>CIDR, e.g. 10.0.0.5/24.</summary>
    public string? Addr { get; set; }
}

/// <summary>The progress of the last update or rollback.</summary>
public sealed class UpdateStatus
{
    /// <summary>One of <see cref="UpdateStates"/>.</summary>
    public string? State { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? StartedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CompletedAt { get; set; }

    public string? Message { get; set; }
}

/// <summary>Values of <see cref="UpdateStatus.State"/>.</summary>
public static class UpdateStates
{
    public const string Updating = "updating";
    public const string Paused = "paused";
    public const string Completed = "completed";
    public const string RollbackStarted = "rollback_started";
    public const string RollbackPaused = "rollback_paused";
    public const string RollbackCompleted = "rollback_completed";
}

/// <summary>Task counts of a service, as <c>docker service ls</c> shows them.</summary>
public sealed class ServiceStatus
{
    public ulong RunningTasks { get; set; }

    public ulong DesiredTasks { get; set; }

    public ulong CompletedTasks { get; set; }
}

/// <summary>The state of a job-mode service.</summary>
public sealed class JobStatus
{
    /// <summary>Increases each time the job is (re-)run; its tasks carry it as <see cref="SwarmTask.JobIteration"/>.</summary>
    public ObjectVersion JobIteration { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? LastExecution { get; set; }
}

/// <summary>The answer of <c>POST /services/create</c> (201).</summary>
public sealed class ServiceCreateResponse
{
    public string ID { get; set; } = string.Empty;

    /// <summary>Printed by the CLI on stderr.</summary>
    public List<string>? Warnings { get; set; }
}

/// <summary>The answer of <c>POST /services/{id}/update</c>.</summary>
public sealed class ServiceUpdateResponse
{
    public List<string>? Warnings { get; set; }
}

// ---------------------------------------------------------------------------------------------------------
// Task template

/// <summary>How the tasks of a service are made (<c>ServiceSpec.TaskTemplate</c>, <c>Task.Spec</c>).</summary>
public sealed class TaskSpec
{
    public ContainerSpec? ContainerSpec { get; set; }

    /// <summary>With <see cref="Runtime"/> "plugin" only.</summary>
    public PluginSpec? PluginSpec { get; set; }

    /// <summary>With <see cref="Runtime"/> "attachment" only.</summary>
    public NetworkAttachmentSpec? NetworkAttachmentSpec { get; set; }

    public ResourceRequirements? Resources { get; set; }

    public RestartPolicy? RestartPolicy { get; set; }

    public Placement? Placement { get; set; }

    public List<NetworkAttachmentConfig>? Networks { get; set; }

    public Driver? LogDriver { get; set; }

    /// <summary>A counter bumped to redeploy an unchanged spec (<c>service update --force</c>).</summary>
    public ulong ForceUpdate { get; set; }

    /// <summary>"container" (or empty), "plugin" or "attachment".</summary>
    public string? Runtime { get; set; }
}

/// <summary>A container task (Docker's <c>swarm.ContainerSpec</c>); every field is stored, even those not yet honoured.</summary>
public sealed class ContainerSpec
{
    public string? Image { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public List<string>? Command { get; set; }

    public List<string>? Args { get; set; }

    public string? Hostname { get; set; }

    /// <summary>"KEY=value" entries.</summary>
    public List<string>? Env { get; set; }

    public string? Dir { get; set; }

    public string? User { get; set; }

    public List<string>? Groups { get; set; }

    public Privileges? Privileges { get; set; }

    public bool? Init { get; set; }

    public string? StopSignal { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TTY { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool OpenStdin { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ReadOnly { get; set; }

    public List<Mount>? Mounts { get; set; }

    /// <summary>Nanoseconds between the stop signal and SIGKILL.</summary>
    public long? StopGracePeriod { get; set; }

    public HealthConfig? Healthcheck { get; set; }

    /// <summary>"IP hostname [alias...]" entries.</summary>
    public List<string>? Hosts { get; set; }

    public DNSConfig? DNSConfig { get; set; }

    public List<SecretReference>? Secrets { get; set; }

    public List<ConfigReference>? Configs { get; set; }

    public string? Isolation { get; set; }

    public Dictionary<string, string>? Sysctls { get; set; }

    public List<string>? CapabilityAdd { get; set; }

    public List<string>? CapabilityDrop { get; set; }

    public List<Ulimit>? Ulimits { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long OomScoreAdj { get; set; }
}

/// <summary>Security options of a container.</summary>
public sealed class Privileges
{
    public CredentialSpec? CredentialSpec { get; set; }

    public SELinuxContext? SELinuxContext { get; set; }

    public SeccompOpts? Seccomp { get; set; }

    public AppArmorOpts? AppArmor { get; set; }

    public bool NoNewPrivileges { get; set; }
}

/// <summary>A Windows managed service account; one of the three is set.</summary>
public sealed class CredentialSpec
{
    public string Config { get; set; } = string.Empty;

    public string File { get; set; } = string.Empty;

    public string Registry { get; set; } = string.Empty;
}

public sealed class SELinuxContext
{
    public bool Disable { get; set; }

    public string User { get; set; } = string.Empty;

    public string Role { get; set; } = string.Empty;

    public string Type { get; set; } = string.Empty;

    public string Level { get; set; } = string.Empty;
}

public sealed class SeccompOpts
{
    /// <summary>"default", "unconfined" or "custom".</summary>
    public string? Mode { get; set; }

    /// <summary>The JSON profile with mode "custom" (base64 in JSON).</summary>
    public byte[]? Profile { get; set; }
}

public sealed class AppArmorOpts
{
    /// <summary>"default" or "disabled".</summary>
    public string? Mode { get; set; }
}

/// <summary>A mount of a container (Docker's <c>mount.Mount</c>).</summary>
public sealed class Mount
{
    /// <summary>"bind", "volume", "tmpfs", "npipe" or "cluster".</summary>
    public string? Type { get; set; }

    public string? Source { get; set; }

    public string? Target { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ReadOnly { get; set; }

    /// <summary>"default", "consistent", "cached" or "delegated".</summary>
    public string? Consistency { get; set; }

    public BindOptions? BindOptions { get; set; }

    public VolumeOptions? VolumeOptions { get; set; }

    public TmpfsOptions? TmpfsOptions { get; set; }
}

public sealed class BindOptions
{
    /// <summary>"rprivate", "private", "rshared", "shared", "rslave" or "slave".</summary>
    public string? Propagation { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool NonRecursive { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool CreateMountpoint { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ReadOnlyNonRecursive { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ReadOnlyForceRecursive { get; set; }
}

public sealed class VolumeOptions
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool NoCopy { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public string? Subpath { get; set; }

    public Driver? DriverConfig { get; set; }
}

public sealed class TmpfsOptions
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long SizeBytes { get; set; }

    /// <summary>The file mode bits (a number in JSON, e.g. 1023 for 01777).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public uint Mode { get; set; }

    /// <summary>Mount options, each a flag <c>["noexec"]</c> or a pair <c>["uid","1000"]</c>.</summary>
    public List<List<string>>? Options { get; set; }
}

/// <summary>A container health check (Docker's <c>container.HealthConfig</c>); durations in nanoseconds.</summary>
public sealed class HealthConfig
{
    /// <summary>["NONE"], ["CMD", args...] or ["CMD-SHELL", command].</summary>
    public List<string>? Test { get; set; }

    public long? Interval { get; set; }

    public long? Timeout { get; set; }

    public long? StartPeriod { get; set; }

    public long? StartInterval { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Retries { get; set; }
}

public sealed class DNSConfig
{
    public List<string>? Nameservers { get; set; }

    public List<string>? Search { get; set; }

    public List<string>? Options { get; set; }
}

public sealed class SecretReference
{
    public FileTarget? File { get; set; }

    public string SecretID { get; set; } = string.Empty;

    public string SecretName { get; set; } = string.Empty;
}

public sealed class ConfigReference
{
    public FileTarget? File { get; set; }

    /// <summary>A config consumed by the runtime itself (e.g. a credential spec) rather than a file.</summary>
    public RuntimeTarget? Runtime { get; set; }

    public string ConfigID { get; set; } = string.Empty;

    public string ConfigName { get; set; } = string.Empty;
}

/// <summary>Where a secret or config appears inside the task.</summary>
public sealed class FileTarget
{
    public string Name { get; set; } = string.Empty;

    public string UID { get; set; } = string.Empty;

    public string GID { get; set; } = string.Empty;

    /// <summary>File mode bits (292 = 0444).</summary>
    public uint Mode { get; set; }
}

public sealed class RuntimeTarget;

public sealed class Ulimit
{
    public string Name { get; set; } = string.Empty;

    public long Soft { get; set; }

    public long Hard { get; set; }
}

/// <summary>A managed plugin to install (runtime "plugin"); Docker spells these fields in lower case.</summary>
public sealed class PluginSpec
{
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("remote")]
    public string? Remote { get; set; }

    [JsonPropertyName("privileges")]
    public List<PluginPrivilege>? Privileges { get; set; }

    [JsonPropertyName("disabled")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Disabled { get; set; }

    [JsonPropertyName("env")]
    public List<string>? Env { get; set; }
}

public sealed class PluginPrivilege
{
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("description")]
    public string? Description { get; set; }

    [JsonPropertyName("value")]
    public List<string>? Value { get; set; }
}

/// <summary>A network attachment for a container that is not a service task (runtime "attachment").</summary>
public sealed class NetworkAttachmentSpec
{
    public string? ContainerID { get; set; }
}

/// <summary>CPU, memory and pids a task may use (<c>Limits</c>) and needs (<c>Reservations</c>).</summary>
public sealed class ResourceRequirements
{
    public Limit? Limits { get; set; }

    public Resources? Reservations { get; set; }
}

public sealed class Limit
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long NanoCPUs { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long MemoryBytes { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Pids { get; set; }
}

/// <summary>A named or counted resource (GPUs, …); one of the two is set.</summary>
public sealed class GenericResource
{
    public NamedGenericResource? NamedResourceSpec { get; set; }

    public DiscreteGenericResource? DiscreteResourceSpec { get; set; }
}

public sealed class NamedGenericResource
{
    public string? Kind { get; set; }

    public string? Value { get; set; }
}

public sealed class DiscreteGenericResource
{
    public string? Kind { get; set; }

    public long Value { get; set; }
}

/// <summary>When tasks are restarted; durations in nanoseconds.</summary>
public sealed class RestartPolicy
{
    /// <summary>"none", "on-failure" or "any".</summary>
    public string? Condition { get; set; }

    public long? Delay { get; set; }

    public ulong? MaxAttempts { get; set; }

    public long? Window { get; set; }
}

/// <summary>Values of <see cref="RestartPolicy.Condition"/>.</summary>
public static class RestartConditions
{
    public const string None = "none";
    public const string OnFailure = "on-failure";
    public const string Any = "any";
}

/// <summary>Where tasks may run.</summary>
public sealed class Placement
{
    /// <summary>Each "key==value" or "key!=value".</summary>
    public List<string>? Constraints { get; set; }

    public List<PlacementPreference>? Preferences { get; set; }

    /// <summary>Tasks of the service per node; 0 = unlimited.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong MaxReplicas { get; set; }

    public List<Platform>? Platforms { get; set; }
}

public sealed class PlacementPreference
{
    public SpreadOver? Spread { get; set; }
}

public sealed class SpreadOver
{
    /// <summary>For example "node.labels.zone".</summary>
    public string SpreadDescriptor { get; set; } = string.Empty;
}

/// <summary>A network a task attaches to.</summary>
public sealed class NetworkAttachmentConfig
{
    /// <summary>The network's ID (stored); a name in a request is resolved by the control API.</summary>
    public string? Target { get; set; }

    public List<string>? Aliases { get; set; }

    public Dictionary<string, string>? DriverOpts { get; set; }
}

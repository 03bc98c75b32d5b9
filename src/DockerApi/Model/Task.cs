using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>
/// A task: one scheduled unit of a service, bound to one node (<c>GET /tasks</c>, <c>GET /tasks/{id}</c>; Docker's
/// <c>swarm.Task</c>, named apart from <see cref="System.Threading.Tasks.Task"/>).
/// </summary>
public sealed class SwarmTask
{
    public string ID { get; set; } = string.Empty;

    public ObjectVersion Version { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? UpdatedAt { get; set; }

    /// <summary>"&lt;service&gt;.&lt;slot|node&gt;.&lt;task id&gt;".</summary>
    public string? Name { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    /// <summary>The service's task template this task was made from.</summary>
    public TaskSpec Spec { get; set; } = new();

    public string? ServiceID { get; set; }

    /// <summary>1..N for replicated services; 0 (omitted) for global ones, which the node identifies.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Slot { get; set; }

    /// <summary>Absent until the scheduler assigns the task.</summary>
    public string? NodeID { get; set; }

    public SwarmTaskStatus Status { get; set; } = new();

    /// <summary>One of <see cref="TaskStates"/>.</summary>
    public string? DesiredState { get; set; }

    /// <summary>Docker's spelling (sic).</summary>
    public List<NetworkAttachment>? NetworksAttachments { get; set; }

    public List<GenericResource>? GenericResources { get; set; }

    /// <summary>Jobs: the iteration of the job the task belongs to (<see cref="JobStatus.JobIteration"/>).</summary>
    public ObjectVersion? JobIteration { get; set; }
}

/// <summary>What the task's node last reported (Docker's <c>swarm.TaskStatus</c>).</summary>
public sealed class SwarmTaskStatus
{
    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>One of <see cref="TaskStates"/>.</summary>
    public string? State { get; set; }

    public string? Message { get; set; }

    /// <summary>Shown in the ERROR column of <c>service ps</c> and in progress bars.</summary>
    public string? Err { get; set; }

    public ContainerStatus? ContainerStatus { get; set; }

    public PortStatus PortStatus { get; set; } = new();
}

public sealed class ContainerStatus
{
    public string? ContainerID { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int PID { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ExitCode { get; set; }
}

/// <summary>Host-mode ports the task published (the PORTS column of <c>service ps</c>).</summary>
public sealed class PortStatus
{
    public List<PortConfig>? Ports { get; set; }
}

/// <summary>A network the task is attached to, with its addresses on it.</summary>
public sealed class NetworkAttachment
{
    public AttachedNetwork Network { get; set; } = new();

    /// <summary>CIDR addresses.</summary>
    public List<string>? Addresses { get; set; }
}

/// <summary>A swarm network as a task attachment embeds it (Docker's <c>swarm.Network</c>, not the <c>/networks</c> shape).</summary>
public sealed class AttachedNetwork
{
    public string ID { get; set; } = string.Empty;

    public ObjectVersion Version { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? UpdatedAt { get; set; }

    public AttachedNetworkSpec Spec { get; set; } = new();

    public Driver DriverState { get; set; } = new();

    public AttachedNetworkIpam? IPAMOptions { get; set; }
}

public sealed class AttachedNetworkSpec
{
    public string? Name { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public Driver? DriverConfiguration { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool IPv6Enabled { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Internal { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Attachable { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Ingress { get; set; }

    public AttachedNetworkIpam? IPAMOptions { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ConfigOnly { get; set; }

    public string? Scope { get; set; }
}

public sealed class AttachedNetworkIpam
{
    public Driver Driver { get; set; } = new();

    public List<AttachedNetworkIpamConfig>? Configs { get; set; }
}

public sealed class AttachedNetworkIpamConfig
{
    public string? Subnet { get; set; }

    public string? Range { get; set; }

    public string? Gateway { get; set; }
}

/// <summary>Values of <see cref="SwarmTaskStatus.State"/> and <see cref="SwarmTask.DesiredState"/>, in their order.</summary>
public static class TaskStates
{
    public const string New = "new";
    public const string Allocated = "allocated";
    public const string Pending = "pending";
    public const string Assigned = "assigned";
    public const string Accepted = "accepted";
    public const string Preparing = "preparing";
    public const string Ready = "ready";
    public const string Starting = "starting";
    public const string Running = "running";
    public const string Complete = "complete";
    public const string Shutdown = "shutdown";
    public const string Failed = "failed";
    public const string Rejected = "rejected";
    public const string Remove = "remove";
    public const string Orphaned = "orphaned";
}

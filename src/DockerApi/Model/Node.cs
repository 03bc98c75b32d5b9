using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>The version of a stored object (Docker's <c>swarm.Version</c>); updates send it back as <c>?version=</c>.</summary>
public sealed class ObjectVersion
{
    public ulong Index { get; set; }
}

/// <summary>A swarm node (<c>GET /nodes</c>, <c>GET /nodes/{id}</c>).</summary>
public sealed class Node
{
    public string ID { get; set; } = string.Empty;

    public ObjectVersion Version { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? UpdatedAt { get; set; }

    public NodeSpec Spec { get; set; } = new();

    public NodeDescription Description { get; set; } = new();

    public NodeStatus Status { get; set; } = new();

    /// <summary>Present on managers only.</summary>
    public ManagerStatus? ManagerStatus { get; set; }
}

/// <summary>What the operator sets on a node; <c>POST /nodes/{id}/update</c> sends it whole.</summary>
public sealed class NodeSpec
{
    public string? Name { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>One of <see cref="NodeRoles"/>.</summary>
    public string? Role { get; set; }

    /// <summary>One of <see cref="NodeAvailabilities"/>.</summary>
    public string? Availability { get; set; }
}

/// <summary>What a node's agent reports about its host.</summary>
public sealed class NodeDescription
{
    public string? Hostname { get; set; }

    public Platform? Platform { get; set; }

    public Resources? Resources { get; set; }

    public EngineDescription? Engine { get; set; }

    public TLSInfo? TLSInfo { get; set; }
}

public sealed class Platform
{
    public string? Architecture { get; set; }

    public string? OS { get; set; }
}

/// <summary>CPU and memory a node has, or a task reserves (<see cref="ResourceRequirements.Reservations"/>).</summary>
public sealed class Resources
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long NanoCPUs { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long MemoryBytes { get; set; }

    /// <summary>Named or counted resources (GPUs, …).</summary>
    public List<GenericResource>? GenericResources { get; set; }
}

public sealed class EngineDescription
{
    public string? EngineVersion { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public List<PluginDescription>? Plugins { get; set; }
}

public sealed class PluginDescription
{
    public string Type { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;
}

/// <summary>The trust a node or the swarm has: the root CA certificate and the issuer of node certificates.</summary>
public sealed class TLSInfo
{
    /// <summary>PEM of the root CA.</summary>
    public string? TrustRoot { get; set; }

    /// <summary>The issuer's raw subject (base64 in JSON).</summary>
    public byte[]? CertIssuerSubject { get; set; }

    /// <summary>The issuer's raw SubjectPublicKeyInfo (base64 in JSON).</summary>
    public byte[]? CertIssuerPublicKey { get; set; }
}

public sealed class NodeStatus
{
    /// <summary>One of <see cref="NodeStates"/>.</summary>
    public string State { get; set; } = NodeStates.Unknown;

    public string? Message { get; set; }

    public string? Addr { get; set; }
}

public sealed class ManagerStatus
{
    public bool Leader { get; set; }

    /// <summary>One of <see cref="Reachabilities"/>.</summary>
    public string Reachability { get; set; } = Reachabilities.Unknown;

    /// <summary>The cluster-port address workers join through (<c>host:port</c>).</summary>
    public string? Addr { get; set; }
}

/// <summary>Values of <see cref="NodeSpec.Role"/>.</summary>
public static class NodeRoles
{
    public const string Worker = "worker";
    public const string Manager = "manager";
}

/// <summary>Values of <see cref="NodeSpec.Availability"/>.</summary>
public static class NodeAvailabilities
{
    public const string Active = "active";
    public const string Pause = "pause";
    public const string Drain = "drain";
}

/// <summary>Values of <see cref="NodeStatus.State"/>.</summary>
public static class NodeStates
{
    public const string Unknown = "unknown";
    public const string Down = "down";
    public const string Ready = "ready";
    public const string Disconnected = "disconnected";
}

/// <summary>Values of <see cref="ManagerStatus.Reachability"/>.</summary>
public static class Reachabilities
{
    public const string Unknown = "unknown";
    public const string Unreachable = "unreachable";
    public const string Reachable = "reachable";
}

/// <summary>Values of <c>Membership</c> in node filters.</summary>
public static class NodeMemberships
{
    public const string Pending = "pending";
    public const string Accepted = "accepted";
}

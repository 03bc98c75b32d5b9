using Google.Protobuf;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Model;

/// <summary>Nodes between the protobuf object model and Docker's JSON.</summary>
public static class NodeMapping
{
    /// <summary>The Docker view of a stored node.</summary>
    public static Node ToDocker(Proto.Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var spec = node.Spec ?? new Proto.NodeSpec();
        var description = node.Description;
        return new Node
        {
            ID = node.Id,
            Version = new ObjectVersion { Index = node.Meta?.Version ?? 0 },
            CreatedAt = node.Meta?.CreatedAt?.ToDateTimeOffset(),
            UpdatedAt = node.Meta?.UpdatedAt?.ToDateTimeOffset(),
            Spec = new NodeSpec
            {
                Name = string.IsNullOrEmpty(spec.Annotations?.Name) ? null : spec.Annotations.Name,
                Labels = spec.Annotations is null ? [] : new Dictionary<string, string>(spec.Annotations.Labels),
                Role = RoleName(spec.DesiredRole),
                Availability = AvailabilityName(spec.Availability),
            },
            Description = description is null ? new NodeDescription() : new NodeDescription
            {
                Hostname = EmptyAsNull(description.Hostname),
                Platform = description.Platform is null ? null : new Platform { Architecture = EmptyAsNull(description.Platform.Architecture), OS = EmptyAsNull(description.Platform.Os) },
                Resources = description.Resources is null ? null : new Resources { NanoCPUs = description.Resources.NanoCpus, MemoryBytes = description.Resources.MemoryBytes },
                Engine = description.Engine is null ? null : new EngineDescription
                {
                    EngineVersion = EmptyAsNull(description.Engine.EngineVersion),
                    Labels = description.Engine.Labels.Count == 0 ? null : new Dictionary<string, string>(description.Engine.Labels),
                    Plugins = description.Engine.Plugins.Count == 0 ? null : [.. description.Engine.Plugins.Select(p => new PluginDescription { Type = p.Type, Name = p.Name })],
                },
                TLSInfo = description.TlsInfo is null ? null : new TLSInfo
                {
                    TrustRoot = description.TlsInfo.TrustRoot.ToStringUtf8(),
                    CertIssuerSubject = BytesOrNull(description.TlsInfo.CertIssuerSubject),
                    CertIssuerPublicKey = BytesOrNull(description.TlsInfo.CertIssuerPublicKey),
                },
            },
            Status = new NodeStatus
            {
                State = StateName(node.Status?.State ?? Proto.NodeState.Unknown),
                Message = EmptyAsNull(node.Status?.Message),
                Addr = EmptyAsNull(node.Status?.Addr),
            },
            ManagerStatus = node.ManagerStatus is null || node.Role != Proto.NodeRole.Manager ? null : new ManagerStatus
            {
                Leader = node.ManagerStatus.Leader,
                Reachability = ReachabilityName(node.ManagerStatus.Reachability),
                Addr = EmptyAsNull(node.ManagerStatus.Addr),
            },
        };
    }

    /// <summary>
    /// The protobuf spec for a Docker node spec. Docker's spec carries no membership: <paramref name="membership"/>
    /// (the stored one) is kept.
    /// </summary>
    /// <exception cref="DockerApiException">400 for a role or availability Docker does not know.</exception>
    public static Proto.NodeSpec ToProto(NodeSpec spec, Proto.NodeMembership membership)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var annotations = new Proto.Annotations { Name = spec.Name ?? string.Empty };
        foreach (var (key, value) in spec.Labels ?? [])
        {
            annotations.Labels[key] = value;
        }

        return new Proto.NodeSpec
        {
            Annotations = annotations,
            DesiredRole = ParseRole(spec.Role) ?? throw DockerApiException.BadRequest($"invalid Role: \"{spec.Role}\" (use \"worker\" or \"manager\")"),
            Availability = ParseAvailability(spec.Availability)
                ?? throw DockerApiException.BadRequest($"invalid Availability: \"{spec.Availability}\" (use \"active\", \"pause\" or \"drain\")"),
            Membership = membership,
        };
    }

    public static string RoleName(Proto.NodeRole role) => role == Proto.NodeRole.Manager ? NodeRoles.Manager : NodeRoles.Worker;

    public static Proto.NodeRole? ParseRole(string? role) => role switch
    {
        NodeRoles.Worker => Proto.NodeRole.Worker,
        NodeRoles.Manager => Proto.NodeRole.Manager,
        _ => null,
    };

    public static string AvailabilityName(Proto.NodeAvailability availability) => availability switch
    {
        Proto.NodeAvailability.Pause => NodeAvailabilities.Pause,
        Proto.NodeAvailability.Drain => NodeAvailabilities.Drain,
        _ => NodeAvailabilities.Active,
    };

    public static Proto.NodeAvailability? ParseAvailability(string? availability) => availability switch
    {
        NodeAvailabilities.Active => Proto.NodeAvailability.Active,
        NodeAvailabilities.Pause => Proto.NodeAvailability.Pause,
        NodeAvailabilities.Drain => Proto.NodeAvailability.Drain,
        _ => null,
    };

    public static Proto.NodeMembership? ParseMembership(string? membership) => membership switch
    {
        NodeMemberships.Pending => Proto.NodeMembership.Pending,
        NodeMemberships.Accepted => Proto.NodeMembership.Accepted,
        _ => null,
    };

    public static string StateName(Proto.NodeState state) => state switch
    {
        Proto.NodeState.Down => NodeStates.Down,
        Proto.NodeState.Ready => NodeStates.Ready,
        Proto.NodeState.Disconnected => NodeStates.Disconnected,
        _ => NodeStates.Unknown,
    };

    public static string ReachabilityName(Proto.RaftReachability reachability) => reachability switch
    {
        Proto.RaftReachability.Reachable => Reachabilities.Reachable,
        Proto.RaftReachability.Unreachable => Reachabilities.Unreachable,
        _ => Reachabilities.Unknown,
    };

    internal static string? EmptyAsNull(string? text) => string.IsNullOrEmpty(text) ? null : text;

    internal static byte[]? BytesOrNull(ByteString bytes) => bytes.IsEmpty ? null : bytes.ToByteArray();
}

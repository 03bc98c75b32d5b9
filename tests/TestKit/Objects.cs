using Shoal.Api;
using Shoal.Api.Naming;

namespace Shoal.TestKit;

/// <summary>Minimal valid objects for tests: every builder returns a fresh instance with a new id.</summary>
public static class Objects
{
    public static Node Node(string hostname = "node", NodeRole role = NodeRole.Worker, string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Role = role,
        Spec = new NodeSpec { DesiredRole = role, Membership = NodeMembership.Accepted, Annotations = new Annotations() },
        Description = new NodeDescription { Hostname = hostname, Platform = new Platform { Os = "linux", Architecture = "x86_64" } },
        Status = new NodeStatus { State = NodeState.Ready },
    };

    public static Service Service(string name = "web", long replicas = 1, string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Spec = new ServiceSpec
        {
            Annotations = new Annotations { Name = name },
            Task = new TaskSpec { Container = new ContainerSpec { Image = "busybox:latest", Args = { "sleep", "1000" } } },
            Replicated = new ReplicatedService { Replicas = replicas },
        },
    };

    public static SwarmTask Task(Service service, long slot = 1, string nodeId = "", TaskState state = TaskState.New, TaskState desired = TaskState.Running, string? id = null)
    {
        var taskId = id ?? Identity.NewId();
        return new SwarmTask
        {
            Id = taskId,
            ServiceId = service.Id,
            Slot = slot,
            NodeId = nodeId,
            Spec = service.Spec.Task.Clone(),
            Annotations = new Annotations { Name = $"{service.Spec.Annotations.Name}.{slot}.{taskId}" },
            ServiceAnnotations = service.Spec.Annotations.Clone(),
            Status = new SwarmTaskStatus { State = state, Message = state.ToString().ToLowerInvariant() },
            DesiredState = desired,
        };
    }

    public static Secret Secret(string name = "db-password", string data = "hunter2", string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Spec = new SecretSpec { Annotations = new Annotations { Name = name }, Data = Google.Protobuf.ByteString.CopyFromUtf8(data) },
    };

    public static Network Network(string name = "front", string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Spec = new NetworkSpec { Annotations = new Annotations { Name = name }, DriverConfig = new Driver { Name = "overlay" } },
    };

    public static Config Config(string name = "app-config", string data = "key=value", string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Spec = new ConfigSpec { Annotations = new Annotations { Name = name }, Data = Google.Protobuf.ByteString.CopyFromUtf8(data) },
    };

    public static Cluster Cluster(string name = "default", string? id = null) => new()
    {
        Id = id ?? Identity.NewId(),
        Spec = new ClusterSpec { Annotations = new Annotations { Name = name } },
    };
}

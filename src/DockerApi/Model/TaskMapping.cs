using Proto = Shoal.Api;

namespace Shoal.DockerApi.Model;

/// <summary>Tasks between the protobuf object model and Docker's JSON (read-only: users never write tasks).</summary>
public static class TaskMapping
{
    /// <summary>The Docker view of a stored task.</summary>
    public static SwarmTask ToDocker(Proto.SwarmTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var status = task.Status ?? new Proto.SwarmTaskStatus();
        return new SwarmTask
        {
            ID = task.Id,
            Version = new ObjectVersion { Index = task.Meta?.Version ?? 0 },
            CreatedAt = task.Meta?.CreatedAt?.ToDateTimeOffset(),
            UpdatedAt = task.Meta?.UpdatedAt?.ToDateTimeOffset(),
            Name = NodeMapping.EmptyAsNull(task.Annotations?.Name),
            Labels = ServiceMapping.LabelsOf(task.Annotations),
            Spec = ServiceMapping.ToDocker(task.Spec ?? new Proto.TaskSpec()),
            ServiceID = NodeMapping.EmptyAsNull(task.ServiceId),
            Slot = task.Slot,
            NodeID = NodeMapping.EmptyAsNull(task.NodeId),
            Status = new SwarmTaskStatus
            {
                Timestamp = status.Timestamp?.ToDateTimeOffset(),
                State = StateName(status.State),
                Message = NodeMapping.EmptyAsNull(status.Message),
                Err = NodeMapping.EmptyAsNull(status.Err),
                ContainerStatus = status.Container is not { } container ? null : new ContainerStatus
                {
                    ContainerID = NodeMapping.EmptyAsNull(container.ContainerId),
                    PID = container.Pid,
                    ExitCode = container.ExitCode,
                },
                PortStatus = new PortStatus
                {
                    Ports = status.PortStatus is null || status.PortStatus.Ports.Count == 0 ? null : [.. status.PortStatus.Ports.Select(ServiceMapping.ToDocker)],
                },
            },
            DesiredState = StateName(task.DesiredState),
            NetworksAttachments = task.Networks.Count == 0 ? null : [.. task.Networks.Select(ToDocker)],
            GenericResources = ServiceMapping.GenericResourcesOf(task.AssignedGenericResources),
            JobIteration = task.HasJobIteration ? new ObjectVersion { Index = task.JobIteration } : null,
        };
    }

    /// <summary>The Docker name of a task state ("running", "shutdown", …).</summary>
    public static string StateName(Proto.TaskState state) => state switch
    {
        Proto.TaskState.New => TaskStates.New,
        Proto.TaskState.Pending => TaskStates.Pending,
        Proto.TaskState.Allocated => TaskStates.Allocated,
        Proto.TaskState.Assigned => TaskStates.Assigned,
        Proto.TaskState.Accepted => TaskStates.Accepted,
        Proto.TaskState.Preparing => TaskStates.Preparing,
        Proto.TaskState.Ready => TaskStates.Ready,
        Proto.TaskState.Starting => TaskStates.Starting,
        Proto.TaskState.Running => TaskStates.Running,
        Proto.TaskState.Complete => TaskStates.Complete,
        Proto.TaskState.Shutdown => TaskStates.Shutdown,
        Proto.TaskState.Failed => TaskStates.Failed,
        Proto.TaskState.Rejected => TaskStates.Rejected,
        Proto.TaskState.Remove => TaskStates.Remove,
        Proto.TaskState.Orphaned => TaskStates.Orphaned,
        _ => TaskStates.New,
    };

    /// <summary>The task state a Docker name stands for (the <c>desired-state</c> filter); null when unknown.</summary>
    public static Proto.TaskState? ParseState(string? state) => state switch
    {
        TaskStates.New => Proto.TaskState.New,
        TaskStates.Pending => Proto.TaskState.Pending,
        TaskStates.Allocated => Proto.TaskState.Allocated,
        TaskStates.Assigned => Proto.TaskState.Assigned,
        TaskStates.Accepted => Proto.TaskState.Accepted,
        TaskStates.Preparing => Proto.TaskState.Preparing,
        TaskStates.Ready => Proto.TaskState.Ready,
        TaskStates.Starting => Proto.TaskState.Starting,
        TaskStates.Running => Proto.TaskState.Running,
        TaskStates.Complete => Proto.TaskState.Complete,
        TaskStates.Shutdown => Proto.TaskState.Shutdown,
        TaskStates.Failed => Proto.TaskState.Failed,
        TaskStates.Rejected => Proto.TaskState.Rejected,
        TaskStates.Remove => Proto.TaskState.Remove,
        TaskStates.Orphaned => Proto.TaskState.Orphaned,
        _ => null,
    };

    private static NetworkAttachment ToDocker(Proto.NetworkAttachment attachment)
    {
        var network = attachment.Network ?? new Proto.Network();
        var spec = network.Spec ?? new Proto.NetworkSpec();
        return new NetworkAttachment
        {
            Network = new AttachedNetwork
            {
                ID = network.Id,
                Version = new ObjectVersion { Index = network.Meta?.Version ?? 0 },
                CreatedAt = network.Meta?.CreatedAt?.ToDateTimeOffset(),
                UpdatedAt = network.Meta?.UpdatedAt?.ToDateTimeOffset(),
                Spec = new AttachedNetworkSpec
                {
                    Name = NodeMapping.EmptyAsNull(spec.Annotations?.Name),
                    Labels = ServiceMapping.LabelsOf(spec.Annotations),
                    DriverConfiguration = spec.DriverConfig is null ? null : ServiceMapping.DriverOf(spec.DriverConfig.Name, spec.DriverConfig.Options),
                    IPv6Enabled = spec.Ipv6Enabled,
                    Internal = spec.Internal,
                    Attachable = spec.Attachable,
                    Ingress = spec.Ingress,
                    IPAMOptions = IpamOf(spec.Ipam),
                    ConfigOnly = spec.ConfigOnly,
                    Scope = NodeMapping.EmptyAsNull(spec.Scope) ?? "swarm",
                },
                DriverState = network.DriverState is null ? new Driver() : ServiceMapping.DriverOf(network.DriverState.Name, network.DriverState.Options),
                IPAMOptions = IpamOf(network.Ipam),
            },
            Addresses = attachment.Addresses.Count == 0 ? null : [.. attachment.Addresses],
        };
    }

    private static AttachedNetworkIpam? IpamOf(Proto.IpamOptions? ipam) => ipam is null ? null : new AttachedNetworkIpam
    {
        Driver = ipam.Driver is null ? new Driver() : ServiceMapping.DriverOf(ipam.Driver.Name, ipam.Driver.Options),
        Configs = ipam.Configs.Count == 0 ? null : [.. ipam.Configs.Select(c => new AttachedNetworkIpamConfig
        {
            Subnet = NodeMapping.EmptyAsNull(c.Subnet),
            Range = NodeMapping.EmptyAsNull(c.Range),
            Gateway = NodeMapping.EmptyAsNull(c.Gateway),
        })],
    };
}

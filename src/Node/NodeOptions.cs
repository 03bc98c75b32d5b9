using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Agent.Executors;
using Shoal.Ca.Client;
using Shoal.Manager.Dispatcher;

namespace Shoal.Node;

/// <summary>Node-local settings of one <c>shoal agent</c> (CONVENTIONS habit 11: cluster-wide ones live in the cluster spec).</summary>
public sealed record NodeOptions
{
    /// <summary>The default data directory.</summary>
    public const string DefaultDataDirectory = "/var/lib/shoal";

    /// <summary>Where the node keeps its identity, certificates, Raft state and task database.</summary>
    /// <value><c>/var/lib/shoal</c>.</value>
    public string DataDirectory { get; init; } = DefaultDataDirectory;

    /// <summary>Where the cluster port listens when this node is a manager (host:port; port 0 lets the OS pick).</summary>
    /// <value><c>0.0.0.0:4242</c>.</value>
    public string ListenAddress { get; init; } = "0.0.0.0:" + ClusterChannels.DefaultPort;

    /// <summary>host[:port] other nodes dial to reach this node's cluster port; null: derived from the listen address.</summary>
    public string? AdvertiseAddress { get; init; }

    /// <summary>The local API's unix socket; null: <c>&lt;data-dir&gt;/shoal.sock</c>.</summary>
    public string? ApiSocket { get; init; }

    /// <summary>The hostname this node reports; null: the machine's. Several nodes on one machine set their own.</summary>
    public string? Hostname { get; init; }

    /// <summary>Length of one Raft tick of a manager.</summary>
    /// <value>100 ms (DESIGN §6).</value>
    public TimeSpan RaftTickInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The dispatcher's node-local timings when this node leads (the heartbeat period itself is the cluster spec's).</summary>
    public DispatcherOptions Dispatcher { get; init; } = new();

    /// <summary>
    /// Builds the runtime the node's tasks run in, given the data directory; null: the process executor (DESIGN §9),
    /// whose tasks live under <c>&lt;data-dir&gt;/tasks</c>. In-process cluster tests give a fake executor here.
    /// </summary>
    public Func<string, IExecutor>? Executor { get; init; }

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The local API's socket path.</summary>
    public string ApiSocketPath => ApiSocket ?? Path.Combine(DataDirectory, "shoal.sock");

    /// <summary>Throws when a value makes no sense, naming it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("--data-dir must name a directory", nameof(DataDirectory));
        }

        try
        {
            ClusterChannels.SplitHostPort(ListenAddress);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"--listen-addr \"{ListenAddress}\": {e.Message}", nameof(ListenAddress), e);
        }

        if (AdvertiseAddress is { Length: > 0 } advertise)
        {
            try
            {
                ClusterChannels.SplitHostPort(advertise);
            }
            catch (FormatException e)
            {
                throw new ArgumentException($"--advertise-addr \"{advertise}\": {e.Message}", nameof(AdvertiseAddress), e);
            }
        }

        // sun_path holds 108 bytes with its terminating NUL.
        if (System.Text.Encoding.UTF8.GetByteCount(ApiSocketPath) > 107)
        {
            throw new ArgumentException($"the API socket path \"{ApiSocketPath}\" is longer than the 107 bytes a unix socket allows; use a shorter --data-dir or --api-socket", nameof(ApiSocket));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RaftTickInterval, TimeSpan.Zero, nameof(RaftTickInterval));
        Dispatcher.Validate();
    }
}

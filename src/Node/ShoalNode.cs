using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shoal.Agent;
using Shoal.Api;
using Shoal.Api.Defaults;
using Shoal.Api.Validation;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.DockerApi;
using Shoal.DockerApi.Model;
using Shoal.Manager;
using Shoal.Manager.Allocator;
using Shoal.Manager.ControlApi;
using Shoal.Manager.Orchestrator;
using Shoal.Manager.Scheduler;
using Shoal.Store;

namespace Shoal.Node;

/// <summary>
/// One node (DESIGN §2): the local API on its unix socket, always; once in a swarm, the agent's session with the
/// managers and the certificate renewer; and the manager part (cluster port, Raft member, control API, dispatcher)
/// while its certificate says manager. Role changes start or stop the manager part in this process. It founds a swarm
/// (<c>swarm init</c>), joins one, leaves it, and restarts from its data directory.
/// </summary>
public sealed partial class ShoalNode : ISwarmNode, IAsyncDisposable
{
    private readonly NodeOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _roleWorkLock = new();
    private readonly HostDescription _host;
    private readonly CancellationTokenSource _stopping = new();
    private DockerApiServer? _api;
    private Membership? _membership;
    private string _state = LocalNodeStates.Inactive;
    private string _error = string.Empty;
    private Task _roleWork = Task.CompletedTask;

    private ShoalNode(NodeOptions options)
    {
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<ShoalNode>();
        _host = new HostDescription(options.Hostname);
    }

    /// <summary>The node's settings.</summary>
    public NodeOptions Options => _options;

    /// <summary>The local API's socket.</summary>
    public string ApiSocketPath => _options.ApiSocketPath;

    /// <summary>The manager part while this node is a manager, else null.</summary>
    public SwarmManager? Manager => Volatile.Read(ref _membership)?.Manager;

    /// <summary>The agent's session while this node is in a swarm, else null.</summary>
    public AgentSession? Session => Volatile.Read(ref _membership)?.Session;

    /// <summary>The node's ID once in a swarm, else null.</summary>
    public string? NodeId => Volatile.Read(ref _membership)?.Security.NodeId;

    /// <inheritdoc/>
    public LocalNodeInfo Info
    {
        get
        {
            var membership = Volatile.Read(ref _membership);
            var session = membership?.Session;
            var managers = session?.Managers ?? [];
            return _host.Facts with
            {
                NodeId = membership?.Security.NodeId ?? string.Empty,
                NodeAddr = membership is null ? string.Empty : NodeAddress(membership),
                LocalNodeState = _state,
                ControlAvailable = membership?.Manager is not null,
                Error = _error,
                RemoteManagers = [.. managers.Where(m => !string.IsNullOrEmpty(m.NodeId)).Select(m => new Peer { NodeID = m.NodeId, Addr = m.Addr })],
            };
        }
    }

    /// <inheritdoc/>
    public Control.ControlClient? Control => Volatile.Read(ref _membership)?.Control;

    /// <summary>
    /// Starts the node: restarts its swarm membership from the data directory when it has one (identity, certificates,
    /// the manager's Raft state), then opens the local API.
    /// </summary>
    /// <exception cref="ArgumentException">An option makes no sense.</exception>
    /// <exception cref="NodeStartException">The data directory cannot be used, or the API socket is taken.</exception>
    public static async Task<ShoalNode> StartAsync(NodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        try
        {
            Directory.CreateDirectory(options.DataDirectory);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(options.DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NodeStartException($"cannot use the data directory {options.DataDirectory}: {e.Message}", e);
        }

        var node = new ShoalNode(options);
        try
        {
            await node.RestartMembershipAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                node._api = await DockerApiServer.StartAsync(options.ApiSocketPath, node, options.LoggerFactory, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new NodeStartException($"cannot listen on the API socket {options.ApiSocketPath}: {e.Message}", e);
            }

            LogNodeStarted(node._logger, options.ApiSocketPath, node._state, node.NodeId ?? "-");
            return node;
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<string> InitAsync(SwarmInitRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureNotInSwarm();
            var listen = ListenOf(request.ListenAddr);
            var advertise = Pick(request.AdvertiseAddr, _options.AdvertiseAddress);
            ValidateAddress("listen address", listen);
            var spec = SwarmMapping.Merge(request.Spec ?? new Spec(), ClusterDefaults.NewClusterSpec());
            var validation = SpecValidator.Validate(spec);
            if (!validation.IsValid)
            {
                throw DockerApiException.BadRequest("invalid swarm spec: " + string.Join("; ", validation.Errors));
            }

            var availability = ParseAvailability(request.Availability);
            var (cluster, self, credentials) = ClusterSecurity.Found(_options.TimeProvider.GetUtcNow(), spec);
            self.Description = _host.Describe();
            self.Spec.Availability = availability;
            var directory = CertificatesOf(_options.DataDirectory);
            directory.Save(credentials);
            var security = new NodeSecurity(credentials, _options.TimeProvider);
            _state = LocalNodeStates.Pending;
            SwarmManager? manager = null;
            try
            {
                manager = await SwarmManager.InitializeAsync(ManagerOptions(listen, advertise), security, cluster, self, cancellationToken).ConfigureAwait(false);
                var state = new NodeStateFile
                {
                    NodeId = credentials.NodeId,
                    ClusterId = credentials.ClusterId,
                    ListenAddress = listen,
                    AdvertiseAddress = manager.AdvertiseAddress,
                    Managers = [manager.AdvertiseAddress],
                };
                state.Save(_options.DataDirectory);
                Activate(security, state, manager);
                LogInitialized(_logger, credentials.NodeId, manager.AdvertiseAddress);
                return credentials.NodeId;
            }
            catch (Exception e)
            {
                throw await AbandonAsync(manager, "could not initialize the swarm", e).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async Task JoinAsync(SwarmJoinRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureNotInSwarm();
            var remotes = (request.RemoteAddrs ?? []).Where(a => !string.IsNullOrWhiteSpace(a)).Select(a => a.Trim()).ToList();
            if (remotes.Count == 0)
            {
                throw DockerApiException.BadRequest("at least 1 RemoteAddr is required to join");
            }

            foreach (var remote in remotes)
            {
                ValidateAddress("remote address", remote);
            }

            if (string.IsNullOrWhiteSpace(request.JoinToken))
            {
                throw DockerApiException.BadRequest("a join token is required to join a swarm (see `swarm join-token` on a manager)");
            }

            var listen = ListenOf(request.ListenAddr);
            var advertise = Pick(request.AdvertiseAddr, _options.AdvertiseAddress);
            ValidateAddress("listen address", listen);
            if (ParseAvailability(request.Availability) != NodeAvailability.Active)
            {
                throw DockerApiException.BadRequest("joining with an availability other than active is not supported yet; join, then run `node update --availability` on a manager");
            }

            _state = LocalNodeStates.Pending;
            SwarmManager? manager = null;
            try
            {
                var progress = new Progress<string>(step => LogJoinStep(_logger, step));
                var credentials = await JoinThroughAnyAsync(remotes, request.JoinToken.Trim(), progress, cancellationToken).ConfigureAwait(false);
                var security = new NodeSecurity(credentials, _options.TimeProvider);
                if (credentials.Role == NodeRole.Manager)
                {
                    manager = await SwarmManager.JoinAsync(ManagerOptions(listen, advertise), security, remotes, cancellationToken).ConfigureAwait(false);
                }

                var state = new NodeStateFile
                {
                    NodeId = credentials.NodeId,
                    ClusterId = credentials.ClusterId,
                    ListenAddress = listen,
                    AdvertiseAddress = manager?.AdvertiseAddress ?? advertise ?? string.Empty,
                    Managers = remotes,
                };
                state.Save(_options.DataDirectory);
                Activate(security, state, manager);
                LogJoined(_logger, credentials.NodeId, credentials.Role, remotes[0]);
            }
            catch (Exception e)
            {
                throw await AbandonAsync(manager, "could not join the swarm", e).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async Task LeaveAsync(bool force, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var membership = _membership;
            if (membership is null)
            {
                throw new DockerApiException(503, DockerApiException.NotInSwarmMessage);
            }

            if (membership.Manager is not null && !force)
            {
                throw new DockerApiException(503, DockerApiException.LeaveManagerMessage);
            }

            if (membership.Manager is { } manager && membership.Control is { } control)
            {
                await LeaveRaftAsync(membership, manager, control, cancellationToken).ConfigureAwait(false);
            }

            Volatile.Write(ref _membership, null);
            using (var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                stopping.CancelAfter(TimeSpan.FromSeconds(30));
                try
                {
                    await membership.StopTasksAsync(stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    LogTasksLeftRunning(_logger);
                }
            }

            await membership.DisposeAsync().ConfigureAwait(false);
            ForgetSwarm();
            _state = LocalNodeStates.Inactive;
            _error = string.Empty;
            LogLeft(_logger, membership.Security.NodeId);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// A manager leaving with force first asks to be demoted, so that the others do not keep a dead member that counts
    /// against their quorum. When the demotion is refused (the last manager, or it would lose quorum) or does not
    /// complete within 15 s, the node leaves anyway, as forced: the others then see it unreachable and an operator
    /// demotes and removes it.
    /// </summary>
    private async Task LeaveRaftAsync(Membership membership, SwarmManager manager, Control.ControlClient control, CancellationToken cancellationToken)
    {
        var nodeId = membership.Security.NodeId;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(15));
            var self = (await control.GetNodeAsync(new GetNodeRequest { NodeRef = nodeId }, cancellationToken: deadline.Token).ConfigureAwait(false)).Node;
            var spec = self.Spec.Clone();
            spec.DesiredRole = NodeRole.Worker;
            await control.UpdateNodeAsync(new UpdateNodeRequest { NodeId = nodeId, Version = self.Meta.Version, Spec = spec }, cancellationToken: deadline.Token).ConfigureAwait(false);
            while (manager.Raft.Members.Any(m => m.NodeId == nodeId))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _options.TimeProvider, deadline.Token).ConfigureAwait(false);
            }

            LogLeftRaft(_logger, nodeId);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogLeaveWithoutDemotion(_logger, nodeId, e.Message);
        }
    }

    /// <summary>Stops the local API, the agent and the manager part (SIGTERM); the data directory is kept for a restart.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _roleWork.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_api is not null)
        {
            await _api.DisposeAsync().ConfigureAwait(false);
        }

        var membership = Interlocked.Exchange(ref _membership, null);
        if (membership is not null)
        {
            await membership.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
        LogNodeStopped(_logger);
    }

    private static CertificateDirectory CertificatesOf(string dataDirectory) => new(Path.Combine(dataDirectory, "certificates"));

    /// <summary>
    /// The listen address the docker CLI sends when its user gave none (its <c>--listen-addr</c> default): it means
    /// "unspecified" here, so the agent's own <c>--listen-addr</c> applies.
    /// </summary>
    private const string DockerCliDefaultListenAddress = "0.0.0.0:2377";

    private static string? Pick(string? requested, string? configured) =>
        string.IsNullOrWhiteSpace(requested) ? (string.IsNullOrWhiteSpace(configured) ? null : configured.Trim()) : requested.Trim();

    private string ListenOf(string? requested) =>
        string.IsNullOrWhiteSpace(requested) || requested.Trim() == DockerCliDefaultListenAddress ? _options.ListenAddress : requested.Trim();

    private static void ValidateAddress(string what, string? address)
    {
        if (address is null)
        {
            return;
        }

        try
        {
            ClusterChannels.SplitHostPort(address);
        }
        catch (FormatException e)
        {
            throw DockerApiException.BadRequest($"invalid {what}: {e.Message}");
        }
    }

    private static NodeAvailability ParseAvailability(string? availability) => availability?.Trim().ToLowerInvariant() switch
    {
        null or "" or NodeAvailabilities.Active => NodeAvailability.Active,
        NodeAvailabilities.Pause => NodeAvailability.Pause,
        NodeAvailabilities.Drain => NodeAvailability.Drain,
        _ => throw DockerApiException.BadRequest($"invalid availability \"{availability}\": expected active, pause or drain"),
    };

    /// <summary>Maps a failure of init or join to the Docker error the CLI prints.</summary>
    private static DockerApiException Explain(string what, Exception e) => e switch
    {
        DockerApiException docker => docker,
        JoinException join => new DockerApiException(400, join.Message),
        IOException io when io.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || io.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase)
            => new DockerApiException(500, $"{what}: the cluster port is already in use ({io.Message}); choose another --listen-addr"),
        RpcException rpc => new DockerApiException(rpc.StatusCode == StatusCode.InvalidArgument ? 400 : 500, $"{what}: {rpc.Status.Detail}"),
        TimeoutException timeout => new DockerApiException(500, $"{what}: {timeout.Message}"),
        OperationCanceledException => new DockerApiException(500, $"{what}: cancelled"),
        _ => new DockerApiException(500, $"{what}: {e.Message}"),
    };

    /// <summary>After a failed init or join: stops what was started and leaves the data directory as it was before.</summary>
    private async Task<DockerApiException> AbandonAsync(SwarmManager? manager, string what, Exception e)
    {
        if (manager is not null)
        {
            await manager.DisposeAsync().ConfigureAwait(false);
        }

        ForgetSwarm();
        _state = LocalNodeStates.Inactive;
        return Explain(what, e);
    }

    private void EnsureNotInSwarm()
    {
        if (_membership is not null || _state == LocalNodeStates.Pending)
        {
            throw new DockerApiException(503, DockerApiException.AlreadyInSwarmMessage);
        }
    }

    /// <summary>Removes what ties the data directory to a swarm: certificates, Raft state, node.json.</summary>
    private void ForgetSwarm()
    {
        var certificates = CertificatesOf(_options.DataDirectory).Path;
        if (Directory.Exists(certificates))
        {
            Directory.Delete(certificates, recursive: true);
        }

        SwarmManager.DeleteState(_options.DataDirectory);
        NodeStateFile.Delete(_options.DataDirectory);
    }

    private async Task<NodeCredentials> JoinThroughAnyAsync(List<string> remotes, string token, IProgress<string> progress, CancellationToken cancellationToken)
    {
        var client = new JoinClient(_options.TimeProvider, _options.LoggerFactory.CreateLogger<JoinClient>());
        for (var i = 0; ; i++)
        {
            try
            {
                return await client.JoinAsync(remotes[i], token, CertificatesOf(_options.DataDirectory), progress, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (i + 1 < remotes.Count && e is RpcException or TimeoutException or HttpRequestException)
            {
                LogJoinFallback(_logger, remotes[i], e.Message, remotes[i + 1]);
            }
        }
    }

    private SwarmManagerOptions ManagerOptions(string listen, string? advertise)
    {
        var (host, port) = ClusterChannels.SplitHostPort(listen);
        var address = host is "0.0.0.0" or "*" ? IPAddress.Any
            : host is "[::]" or "::" ? IPAddress.IPv6Any
            : IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip
            : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
              ?? throw DockerApiException.BadRequest($"invalid listen address {listen}: {host} does not resolve to an IPv4 address");
        if (advertise is null && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
        {
            advertise = AdvertisableAddress()?.ToString()
                ?? throw DockerApiException.BadRequest("could not choose an IP address to advertise since this system has no usable address; specify one with --advertise-addr");
        }

        var options = _options;
        return new SwarmManagerOptions
        {
            DataDirectory = options.DataDirectory,
            ListenEndpoint = new IPEndPoint(address, port),
            AdvertiseAddress = advertise,
            TickInterval = options.RaftTickInterval,
            TimeProvider = options.TimeProvider,
            LoggerFactory = options.LoggerFactory,
            Components = new ManagerComponents
            {
                MapServices = builder =>
                {
                    builder.Services.AddSingleton(options.Dispatcher);
                    builder.Services.AddSingleton<IManagerQuorum, RaftManagerQuorum>();
                    builder.MapControlApi();
                    Shoal.Manager.Dispatcher.DispatcherPortExtensions.MapDispatcher(builder);
                },
                LeaderLoops =
                [
                    new LeaderLoop("dispatcher", (services, ct) => services.GetRequiredService<Shoal.Manager.Dispatcher.Dispatcher>().RunAsync(ct)),
                    new LeaderLoop("log broker", (services, ct) => services.GetRequiredService<Shoal.Manager.LogBroker.LogBroker>().RunAsync(ct)),
                    new LeaderLoop("orchestrators", (services, ct) => new Orchestrators(services.GetRequiredService<MemoryStore>(), time: options.TimeProvider,
                        loggerFactory: options.LoggerFactory).RunAsync(ct)),
                    new LeaderLoop("allocator", (services, ct) => new Allocator(services.GetRequiredService<MemoryStore>(), time: options.TimeProvider,
                        logger: options.LoggerFactory.CreateLogger<Allocator>()).RunAsync(ct)),
                    new LeaderLoop("scheduler", (services, ct) => new Scheduler(services.GetRequiredService<MemoryStore>(), time: options.TimeProvider,
                        logger: options.LoggerFactory.CreateLogger<Scheduler>()).RunAsync(ct)),
                ],
            },
        };
    }

    /// <summary>
    /// The address to advertise when listening on every interface: the only non-loopback IPv4 address that is up, as
    /// Docker does; loopback when the machine has none.
    /// </summary>
    private static IPAddress? AdvertisableAddress()
    {
        var addresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            .Distinct()
            .ToList();
        return addresses.Count switch
        {
            0 => IPAddress.Loopback,
            1 => addresses[0],
            _ => throw DockerApiException.BadRequest(
                $"could not choose an IP address to advertise since this system has multiple addresses ({string.Join(", ", addresses)}); specify one with --advertise-addr"),
        };
    }

    /// <summary>At start: back into the swarm the data directory names, if any.</summary>
    private async Task RestartMembershipAsync(CancellationToken cancellationToken)
    {
        var state = NodeStateFile.Load(_options.DataDirectory);
        var directory = CertificatesOf(_options.DataDirectory);
        if (state is null || !directory.Exists)
        {
            return;
        }

        var credentials = directory.Load() ?? throw new NodeStartException($"the certificates in {directory.Path} cannot be read; to leave the swarm, remove {_options.DataDirectory}");
        var security = new NodeSecurity(credentials, _options.TimeProvider);
        SwarmManager? manager = null;
        if (credentials.Role == NodeRole.Manager)
        {
            manager = await StartManagerAsync(security, state, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // A demotion that stopped short of deleting the Raft state (a crash in between) must not bring an old
            // member back if the node is promoted again: it would rejoin as a fresh member.
            SwarmManager.DeleteState(_options.DataDirectory);
        }

        Activate(security, state, manager);
        LogRestarted(_logger, credentials.NodeId, credentials.Role);
    }

    /// <summary>Starts the manager part: from its Raft state when there is one, else by joining the managers.</summary>
    private async Task<SwarmManager> StartManagerAsync(NodeSecurity security, NodeStateFile state, CancellationToken cancellationToken)
    {
        var listen = string.IsNullOrEmpty(state.ListenAddress) ? _options.ListenAddress : state.ListenAddress;
        var advertise = Pick(_options.AdvertiseAddress, state.AdvertiseAddress);
        var options = ManagerOptions(listen, advertise);
        if (SwarmManager.HasState(_options.DataDirectory))
        {
            return await SwarmManager.RestartAsync(options, security, cancellationToken).ConfigureAwait(false);
        }

        var managers = state.Managers.Where(m => m != advertise).ToList();
        if (managers.Count == 0)
        {
            throw new NodeStartException("this node is a manager without Raft state and knows no other manager to join through; leave the swarm and join it again");
        }

        var manager = await SwarmManager.JoinAsync(options, security, managers, cancellationToken).ConfigureAwait(false);
        state.AdvertiseAddress = manager.AdvertiseAddress;
        state.Save(_options.DataDirectory);
        return manager;
    }

    private void Activate(NodeSecurity security, NodeStateFile state, SwarmManager? manager)
    {
        var managers = state.Managers.ToList();
        if (manager is not null)
        {
            managers.Remove(manager.AdvertiseAddress);
            managers.Insert(0, manager.AdvertiseAddress);
        }

        var membership = new Membership(this, security, state, managers);
        membership.SetManager(manager);
        membership.Start();
        Volatile.Write(ref _membership, membership);
        _state = LocalNodeStates.Active;
        _error = string.Empty;
    }

    private void SetError(string error)
    {
        if (_membership is not null)
        {
            _error = error;
            _state = LocalNodeStates.Error;
        }
    }

    private void ClearError()
    {
        if (_state == LocalNodeStates.Error)
        {
            _error = string.Empty;
            _state = LocalNodeStates.Active;
        }
    }

    private static string NodeAddress(Membership membership)
    {
        var advertise = membership.Manager?.AdvertiseAddress ?? membership.State.AdvertiseAddress;
        if (!string.IsNullOrEmpty(advertise))
        {
            return ClusterChannels.SplitHostPort(advertise).Host.Trim('[', ']');
        }

        return membership.Session.Node?.Status?.Addr ?? string.Empty;
    }

    /// <summary>
    /// Brings the manager part in line with the certificate's role (after a renewal for a promotion or demotion).
    /// Runs one at a time, off the event that triggered it.
    /// </summary>
    private void ScheduleRoleReconcile()
    {
        lock (_roleWorkLock)
        {
            var previous = _roleWork;
            _roleWork = Task.Run(async () =>
            {
                await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await ReconcileRoleAsync(_stopping.Token).ConfigureAwait(false);
            });
        }
    }

    private async Task ReconcileRoleAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; !cancellationToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                var membership = _membership;
                if (membership is null)
                {
                    return;
                }

                var role = membership.Security.Current.Role;
                if (role == NodeRole.Manager && membership.Manager is null)
                {
                    var state = membership.State;
                    state.Managers = [.. membership.Session.Managers.Select(m => m.Addr).Where(a => !string.IsNullOrEmpty(a))];
                    var manager = await StartManagerAsync(membership.Security, state, cancellationToken).ConfigureAwait(false);
                    membership.SetManager(manager);
                    LogRoleChanged(_logger, membership.Security.NodeId, NodeRole.Manager);
                }
                else if (role == NodeRole.Worker && membership.Manager is { } manager)
                {
                    membership.SetManager(null);
                    await manager.DisposeAsync().ConfigureAwait(false);
                    SwarmManager.DeleteState(_options.DataDirectory);
                    LogRoleChanged(_logger, membership.Security.NodeId, NodeRole.Worker);
                }

                ClearError();
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SetError($"changing this node's role failed: {e.Message}; retrying");
                LogRoleChangeFailed(_logger, attempt, e);
            }
            finally
            {
                _gate.Release();
            }

            try
            {
                await Task.Delay(RetryDelay(attempt), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Node started: API on {Socket}, swarm state {State}, node {NodeId}")]
    private static partial void LogNodeStarted(ILogger logger, string socket, string state, string nodeId);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "Swarm initialized: node {NodeId} is its first manager, at {Address}")]
    private static partial void LogInitialized(ILogger logger, string nodeId, string address);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "Joined the swarm: node {NodeId} as {Role}, through {Address}")]
    private static partial void LogJoined(ILogger logger, string nodeId, NodeRole role, string address);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Information, Message = "Joining: {Step}")]
    private static partial void LogJoinStep(ILogger logger, string step);

    [LoggerMessage(EventId = 9011, Level = LogLevel.Information, Message = "Joining: {Address} did not answer ({Reason}); trying {Next}")]
    private static partial void LogJoinFallback(ILogger logger, string address, string reason, string next);

    [LoggerMessage(EventId = 9012, Level = LogLevel.Information, Message = "Node {NodeId} was demoted and left the managers' Raft group before leaving the swarm")]
    private static partial void LogLeftRaft(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 9013, Level = LogLevel.Warning, Message = "Node {NodeId} leaves the swarm without leaving the managers' Raft group ({Reason}); demote and remove it from another manager")]
    private static partial void LogLeaveWithoutDemotion(ILogger logger, string nodeId, string reason);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information, Message = "Node {NodeId} left the swarm")]
    private static partial void LogLeft(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Information, Message = "Node restarted in its swarm: node {NodeId} as {Role}")]
    private static partial void LogRestarted(ILogger logger, string nodeId, NodeRole role);

    [LoggerMessage(EventId = 9007, Level = LogLevel.Information, Message = "Node {NodeId} is now a {Role}")]
    private static partial void LogRoleChanged(ILogger logger, string nodeId, NodeRole role);

    [LoggerMessage(EventId = 9008, Level = LogLevel.Warning, Message = "Changing this node's role failed (attempt {Attempt}); retrying")]
    private static partial void LogRoleChangeFailed(ILogger logger, int attempt, Exception exception);

    [LoggerMessage(EventId = 9014, Level = LogLevel.Warning, Message = "Leaving the swarm: not every task stopped within 30 s; those left keep running under their shims (see <data-dir>/tasks)")]
    private static partial void LogTasksLeftRunning(ILogger logger);

    [LoggerMessage(EventId = 9009, Level = LogLevel.Information, Message = "Node stopped")]
    private static partial void LogNodeStopped(ILogger logger);
}

/// <summary>The node could not start: the message names the cause and the next step.</summary>
public sealed class NodeStartException : Exception
{
    public NodeStartException(string message)
        : base(message)
    {
    }

    public NodeStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NodeStartException()
    {
    }
}

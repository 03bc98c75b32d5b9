using Shoal.Ca.Certificates;

namespace Shoal.Ca.Client;

/// <summary>
/// The node's <c>certificates/</c> directory: <c>swarm-root-ca.crt</c>, <c>swarm-node.crt</c> and
/// <c>swarm-node.key</c>. The directory is 0700 and the key 0600 from the moment the file exists. Writes are atomic,
/// and a crash between writing the key and the certificate is completed on the next load, so the pair on disk always
/// belongs together.
/// </summary>
public sealed class CertificateDirectory(string path)
{
    /// <summary>Root CA certificate file name.</summary>
    public const string RootCaFile = "swarm-root-ca.crt";

    /// <summary>Node certificate file name.</summary>
    public const string CertificateFile = "swarm-node.crt";

    /// <summary>Node key file name.</summary>
    public const string KeyFile = "swarm-node.key";

    private const string Pending = ".new";
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PublicFile = PrivateFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The directory.</summary>
    public string Path { get; } = path;

    /// <summary>Whether the directory holds a node certificate.</summary>
    public bool Exists => File.Exists(PathOf(KeyFile)) && File.Exists(PathOf(CertificateFile)) && File.Exists(PathOf(RootCaFile));

    /// <summary>Writes the credentials (root first, then key and certificate as a pair).</summary>
    public void Save(NodeCredentials credentials)
    {
        var directory = Directory.CreateDirectory(Path);
        if (!OperatingSystem.IsWindows())
        {
            directory.UnixFileMode = PrivateDirectory;
        }

        WriteAtomically(RootCaFile, credentials.RootCaPem, PublicFile);
        Write(KeyFile + Pending, credentials.ExportKeyPem(), PrivateFile);
        Write(CertificateFile + Pending, credentials.CertificatePem, PublicFile);
        File.Move(PathOf(KeyFile + Pending), PathOf(KeyFile), overwrite: true);
        File.Move(PathOf(CertificateFile + Pending), PathOf(CertificateFile), overwrite: true);
    }

    /// <summary>Loads the credentials, or null when the directory holds none.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The files do not belong together.</exception>
    public NodeCredentials? Load()
    {
        if (!Directory.Exists(Path))
        {
            return null;
        }

        RecoverInterruptedSave();
        if (!Exists)
        {
            return null;
        }

        return NodeCredentials.FromPem(Read(CertificateFile), Read(KeyFile), Read(RootCaFile));
    }

    private void RecoverInterruptedSave()
    {
        var pendingCertificate = PathOf(CertificateFile + Pending);
        var pendingKey = PathOf(KeyFile + Pending);
        if (File.Exists(pendingCertificate) && !File.Exists(pendingKey) && File.Exists(PathOf(KeyFile)))
        {
            // The key was moved in place and the certificate was not: finish the move if they belong together.
            try
            {
                using var credentials = NodeCredentials.FromPem(File.ReadAllText(pendingCertificate), Read(KeyFile), Read(RootCaFile));
                File.Move(pendingCertificate, PathOf(CertificateFile), overwrite: true);
                return;
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
            }
        }

        // Otherwise the old pair is whole: whatever was being written is dropped.
        File.Delete(pendingCertificate);
        File.Delete(pendingKey);
    }

    private string PathOf(string name) => System.IO.Path.Combine(Path, name);

    private string Read(string name) => File.ReadAllText(PathOf(name));

    private void WriteAtomically(string name, string content, UnixFileMode mode)
    {
        Write(name + Pending, content, mode);
        File.Move(PathOf(name + Pending), PathOf(name), overwrite: true);
    }

    private void Write(string name, string content, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        var target = PathOf(name);
        File.Delete(target); // the create mode applies only to a new file
        using var stream = new FileStream(target, options);
        using (var writer = new StreamWriter(stream, leaveOpen: true))
        {
            writer.Write(content);
        }

        stream.Flush(flushToDisk: true);
    }
}

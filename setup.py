"""Build script: cythonizes the kernels in cnn_ext/ and compiles them.

Environment switches (all optional):

CNN_EXT_DEBUG_BUILD=1  bounds checks and initialized checks on, -O1 -g.
CNN_EXT_NO_OPENMP=1    build serial kernels even when the compiler supports OpenMP.
CNN_EXT_REQUIRE_EXT=1  a failed compile is a hard error (CI and releases set it).

Without a working compiler the install still succeeds, prints a loud warning and
the package runs on its pure-NumPy backend.
"""
import os
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_MODULES = ["_conv_kernels", "_pool_kernels", "_norm_kernels", "_optim_kernels"]


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DEBUG = _env_flag("CNN_EXT_DEBUG_BUILD")
NO_OPENMP = _env_flag("CNN_EXT_NO_OPENMP")
REQUIRE = _env_flag("CNN_EXT_REQUIRE_EXT")


def _warn(message):
    bar = "*" * 78
    sys.stderr.write(f"\n{bar}\n{textwrap.fill(message, 78)}\n{bar}\n\n")


class OptionalBuildExt(build_ext):
    """build_ext that probes for OpenMP and tolerates a missing compiler."""

    def _probe_openmp(self):
        if NO_OPENMP:
            return False
        if self.compiler.compiler_type == "msvc":
            return False
        source = "#include <omp.h>\nint main(void){\n#pragma omp parallel\n{ (void)omp_get_thread_num(); }\nreturn 0;}\n"
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe_omp.c")
            with open(src, "w") as fh:
                fh.write(source)
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
                self.compiler.link_executable(objs, os.path.join(tmp, "probe_omp"), extra_postargs=["-fopenmp"])
            except Exception:  # any compiler or linker failure means: no OpenMP
                return False
        return True

    def build_extensions(self):
        openmp = self._probe_openmp()
        # -fno-math-errno: the kernels never read errno, and without it sqrt() stays a
        # library call that blocks vectorization
        opt = ["-O1", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
        for ext in self.extensions:
            if self.compiler.compiler_type != "msvc":
                ext.extra_compile_args = opt + (["-fopenmp"] if openmp else [])
                ext.extra_link_args = ["-fopenmp"] if openmp else []
        print(f"cnn_ext build: openmp={'on' if openmp else 'off'} debug={'on' if DEBUG else 'off'}")
        super().build_extensions()

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, compiler crash, missing headers
            self._failed(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._failed(exc, ext.name)

    def _failed(self, exc, name="the kernels"):
        if REQUIRE:
            raise exc
        _warn(
            f"cnn_ext: could not compile {name} ({type(exc).__name__}: {exc}). "
            "Installing without the compiled backend: cnn_ext will run on its pure-NumPy "
            "backend, which is correct but much slower. Install a C compiler (e.g. "
            "'apt-get install build-essential python3-dev') and reinstall to get the "
            "compiled kernels; set CNN_EXT_REQUIRE_EXT=1 to make this an error."
        )


def _extensions():
    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": DEBUG,
        "nonecheck": DEBUG,
        "embedsignature": True,
    }
    exts = [Extension(f"cnn_ext.{name}", [f"cnn_ext/{name}.pyx"]) for name in KERNEL_MODULES]
    try:
        from Cython.Build import cythonize

        # force: the generated .c must match this build's directives (debug or release)
        exts = cythonize(exts, compiler_directives=directives, quiet=True, force=True)
    except Exception as exc:  # Cython missing or a Cython compile error
        if REQUIRE:
            raise
        _warn(f"cnn_ext: Cython could not translate the kernels ({type(exc).__name__}: {exc}); "
              "installing the pure-NumPy backend only.")
        return []
    # cythonize() rebuilds Extension objects and drops optional=True: set it afterwards.
    for ext in exts:
        ext.optional = not REQUIRE
    return exts


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
